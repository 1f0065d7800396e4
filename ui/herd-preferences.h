/* herd-preferences.h: AdwPreferencesWindow over the GSettings schema. */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define HERD_TYPE_PREFERENCES (herd_preferences_get_type())
G_DECLARE_FINAL_TYPE(HerdPreferences, herd_preferences, HERD, PREFERENCES, AdwPreferencesWindow)

/* model_facts: lines shown under "Loaded model" (may be NULL). */
GtkWidget *herd_preferences_new(GtkWindow *parent, GSettings *settings, const char *model_facts);

G_END_DECLS
