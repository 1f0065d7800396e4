/* main.c: herd, the desktop app. */
#include "herd-application.h"

int main(int argc, char **argv)
{
    g_autoptr(HerdApplication) app = herd_application_new();
    return g_application_run(G_APPLICATION(app), argc, argv);
}
