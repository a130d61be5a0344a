//! The room settings a host controls, declared once.
//!
//! The one list in [`room_settings!`] below generates everything that must
//! agree on it: the full settings ([`MeetingSettings`], with their
//! defaults), a partial change ([`SettingsChange`], the fields present are
//! the ones changed; also the HTTP body of `settings`), `apply`, `merge`
//! and `diff`, the event shape with the room's capacity ([`ConfigChange`]),
//! and [`MeetingSettings::NAMES`], from which the read model's columns and
//! statements are built. Adding a setting is one line here (and a
//! migration adding its read-model column).

use serde::{Deserialize, Serialize};

macro_rules! room_settings {
    ($( $(#[doc = $doc:literal])* $name:ident = $default:literal, )*) => {
        /// The room settings of a meeting.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub struct MeetingSettings {
            $( $(#[doc = $doc])* pub $name: bool, )*
        }

        impl Default for MeetingSettings {
            /// Open, chat and screen share on, everything that records or
            /// gates off.
            fn default() -> Self {
                Self { $( $name: $default, )* }
            }
        }

        impl MeetingSettings {
            /// Every setting's name: its JSON key and its read-model column.
            pub const NAMES: &'static [&'static str] = &[$( stringify!($name) ),*];

            /// Sets every setting the change names.
            pub fn apply(&mut self, change: &SettingsChange) {
                $( if let Some(value) = change.$name { self.$name = value; } )*
            }

            /// The settings of `wanted` that differ from these.
            pub fn diff(&self, wanted: &SettingsChange) -> SettingsChange {
                SettingsChange {
                    $( $name: wanted.$name.filter(|value| *value != self.$name), )*
                }
            }

            /// Builds the settings from a value per name (a read-model row).
            pub fn try_from_fn<E>(
                mut value: impl FnMut(&'static str) -> Result<bool, E>,
            ) -> Result<Self, E> {
                Ok(Self { $( $name: value(stringify!($name))?, )* })
            }
        }

        /// A partial set of room settings: the fields present are the ones
        /// changed. Unknown names are refused, so a typo in a request never
        /// silently does nothing.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(deny_unknown_fields)]
        pub struct SettingsChange {
            $(
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $name: Option<bool>,
            )*
        }

        impl SettingsChange {
            pub fn is_empty(&self) -> bool {
                *self == Self::default()
            }

            /// Adds a later change: what it names wins, the rest is kept.
            pub fn merge(&mut self, later: &SettingsChange) {
                $( if later.$name.is_some() { self.$name = later.$name; } )*
            }
        }
    };
}

room_settings! {
    /// Nobody but the host may join while set.
    lock_room = false,
    enable_transcription = false,
    enable_chat = true,
    enable_screen_share = true,
    enable_recording = false,
    /// Joins wait for a moderator to admit them.
    waiting_room = false,
    /// Participants join muted.
    mute_on_entry = false,
}

/// A change of room settings and capacity, as `room_config_updated` and
/// `meeting_details_updated` carry it: `{"lock_room": true,
/// "max_participants": 10}`, the fields present are the ones changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConfigChange {
    #[serde(flatten)]
    pub settings: SettingsChange,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_participants: Option<u32>,
}

impl ConfigChange {
    pub fn is_empty(&self) -> bool {
        self.settings.is_empty() && self.max_participants.is_none()
    }

    /// Adds a later change: what it names wins, the rest is kept.
    pub fn merge(&mut self, later: &ConfigChange) {
        self.settings.merge(&later.settings);
        if later.max_participants.is_some() {
            self.max_participants = later.max_participants;
        }
    }
}

/// The room's settings with its capacity: how replies and queries show a
/// meeting's `settings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomSettings {
    #[serde(flatten)]
    pub settings: MeetingSettings,
    pub max_participants: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_serialises_only_what_it_changes_and_reads_back() {
        let change = ConfigChange {
            settings: SettingsChange {
                lock_room: Some(true),
                ..Default::default()
            },
            max_participants: Some(10),
        };
        let json = serde_json::to_value(change).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"lock_room": true, "max_participants": 10})
        );
        assert_eq!(
            serde_json::from_value::<ConfigChange>(json).unwrap(),
            change
        );
        assert_eq!(
            serde_json::to_value(ConfigChange::default()).unwrap(),
            serde_json::json!({})
        );
    }

    #[test]
    fn an_unknown_setting_is_refused_in_a_change() {
        let error = serde_json::from_value::<SettingsChange>(serde_json::json!({"lock_rom": true}))
            .unwrap_err();
        assert!(error.to_string().contains("lock_rom"), "{error}");
    }

    /// Every setting set to `value`, built from the names alone.
    fn all(value: bool) -> SettingsChange {
        let map: serde_json::Map<String, serde_json::Value> = MeetingSettings::NAMES
            .iter()
            .map(|name| (name.to_string(), value.into()))
            .collect();
        serde_json::from_value(map.into()).unwrap()
    }

    #[test]
    fn apply_diff_and_merge_agree_on_every_setting() {
        let all_on = all(true);
        let mut settings = MeetingSettings::default();
        let diff = settings.diff(&all_on);
        assert_eq!(diff.enable_chat, None, "already on: no change");
        assert_eq!(diff.lock_room, Some(true));
        settings.apply(&diff);
        let json = serde_json::to_value(settings).unwrap();
        for name in MeetingSettings::NAMES {
            assert_eq!(json[name], serde_json::json!(true), "{name}");
        }
        assert!(settings.diff(&all_on).is_empty());

        let mut merged = SettingsChange::default();
        merged.merge(&all_on);
        merged.merge(&SettingsChange {
            lock_room: Some(false),
            ..Default::default()
        });
        assert_eq!(merged.lock_room, Some(false));
        assert_eq!(merged.mute_on_entry, Some(true));
    }

    #[test]
    fn settings_build_from_their_names() {
        let built =
            MeetingSettings::try_from_fn(|name| Ok::<_, ()>(name == "waiting_room")).unwrap();
        let json = serde_json::to_value(built).unwrap();
        for name in MeetingSettings::NAMES {
            assert_eq!(
                json[name],
                serde_json::json!(*name == "waiting_room"),
                "{name}"
            );
        }
        let mut off = MeetingSettings::try_from_fn(|_| Ok::<_, ()>(false)).unwrap();
        off.apply(&all(true));
        assert_eq!(
            off,
            MeetingSettings::try_from_fn(|_| Ok::<_, ()>(true)).unwrap()
        );
    }
}
