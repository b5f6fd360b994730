//! Keyboard-mode (HID) scanners type their codes as key presses; this turns the key events
//! back into characters.
//!
//! Pure: key code and value in, character out. The keyboard layout is a table (key → normal
//! and shifted character) so a scanner set up for another layout can be matched without code
//! changes. The adapter in `hid` feeds it events from evdev; tests feed it recorded sequences.
//!
//! What it deliberately does not know: where a code ends beyond "Enter was pressed", or
//! whether the characters make a valid code (the framer and the engine decide that).

use std::collections::{BTreeMap, HashMap};

use evdev::{EventSummary, InputEvent, KeyCode};

/// evdev key values.
const RELEASED: i32 = 0;
const PRESSED: i32 = 1;
// 2 is auto-repeat: a scanner holding a key is not typing it twice.

/// A keyboard layout: for each key, the character typed without and with shift.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    name: String,
    keys: HashMap<KeyCode, (char, char)>,
}

/// A layout name (the config's `[scanner] layout`) or a single-key override (set by a caller
/// of the adapter, not by the config) that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error("unknown keyboard layout {0:?} in [scanner] layout; use one of \"us\", \"de\", \"fr\" (the layout the scanner is set up to type in)")]
    UnknownLayout(String),
    #[error("unknown key name {0:?} in a HID key override; use evdev names such as \"KEY_Z\" or \"KEY_KP1\"")]
    UnknownKeyName(String),
    #[error("HID key override {key} maps to {value:?}; give exactly two characters: the unshifted one, then the shifted one (e.g. \"zZ\")")]
    BadMapping { key: String, value: String },
}

const US_LETTERS: &str = "abcdefghijklmnopqrstuvwxyz";

impl Layout {
    /// US English, the layout almost every scanner ships configured for.
    pub fn us() -> Layout {
        use KeyCode as K;
        let mut keys = HashMap::new();
        let letters = [
            K::KEY_A,
            K::KEY_B,
            K::KEY_C,
            K::KEY_D,
            K::KEY_E,
            K::KEY_F,
            K::KEY_G,
            K::KEY_H,
            K::KEY_I,
            K::KEY_J,
            K::KEY_K,
            K::KEY_L,
            K::KEY_M,
            K::KEY_N,
            K::KEY_O,
            K::KEY_P,
            K::KEY_Q,
            K::KEY_R,
            K::KEY_S,
            K::KEY_T,
            K::KEY_U,
            K::KEY_V,
            K::KEY_W,
            K::KEY_X,
            K::KEY_Y,
            K::KEY_Z,
        ];
        for (key, letter) in letters.into_iter().zip(US_LETTERS.chars()) {
            keys.insert(key, (letter, letter.to_ascii_uppercase()));
        }
        let others = [
            (K::KEY_1, '1', '!'),
            (K::KEY_2, '2', '@'),
            (K::KEY_3, '3', '#'),
            (K::KEY_4, '4', '$'),
            (K::KEY_5, '5', '%'),
            (K::KEY_6, '6', '^'),
            (K::KEY_7, '7', '&'),
            (K::KEY_8, '8', '*'),
            (K::KEY_9, '9', '('),
            (K::KEY_0, '0', ')'),
            (K::KEY_MINUS, '-', '_'),
            (K::KEY_EQUAL, '=', '+'),
            (K::KEY_LEFTBRACE, '[', '{'),
            (K::KEY_RIGHTBRACE, ']', '}'),
            (K::KEY_SEMICOLON, ';', ':'),
            (K::KEY_APOSTROPHE, '\'', '"'),
            (K::KEY_GRAVE, '`', '~'),
            (K::KEY_BACKSLASH, '\\', '|'),
            (K::KEY_COMMA, ',', '<'),
            (K::KEY_DOT, '.', '>'),
            (K::KEY_SLASH, '/', '?'),
            (K::KEY_SPACE, ' ', ' '),
            (K::KEY_TAB, '\t', '\t'),
            // The keypad types the same with or without shift (num lock assumed on).
            (K::KEY_KP0, '0', '0'),
            (K::KEY_KP1, '1', '1'),
            (K::KEY_KP2, '2', '2'),
            (K::KEY_KP3, '3', '3'),
            (K::KEY_KP4, '4', '4'),
            (K::KEY_KP5, '5', '5'),
            (K::KEY_KP6, '6', '6'),
            (K::KEY_KP7, '7', '7'),
            (K::KEY_KP8, '8', '8'),
            (K::KEY_KP9, '9', '9'),
            (K::KEY_KPDOT, '.', '.'),
            (K::KEY_KPMINUS, '-', '-'),
            (K::KEY_KPPLUS, '+', '+'),
            (K::KEY_KPASTERISK, '*', '*'),
            (K::KEY_KPSLASH, '/', '/'),
        ];
        for (key, normal, shifted) in others {
            keys.insert(key, (normal, shifted));
        }
        Layout {
            name: "us".into(),
            keys,
        }
    }

    /// German QWERTZ: Y and Z swapped, digits shift to other symbols.
    pub fn de() -> Layout {
        use KeyCode as K;
        Layout::us().renamed("de").with_keys(&[
            (K::KEY_Y, 'z', 'Z'),
            (K::KEY_Z, 'y', 'Y'),
            (K::KEY_2, '2', '"'),
            (K::KEY_3, '3', '§'),
            (K::KEY_6, '6', '&'),
            (K::KEY_7, '7', '/'),
            (K::KEY_8, '8', '('),
            (K::KEY_9, '9', ')'),
            (K::KEY_0, '0', '='),
            (K::KEY_MINUS, 'ß', '?'),
            (K::KEY_EQUAL, '´', '`'),
            (K::KEY_LEFTBRACE, 'ü', 'Ü'),
            (K::KEY_RIGHTBRACE, '+', '*'),
            (K::KEY_SEMICOLON, 'ö', 'Ö'),
            (K::KEY_APOSTROPHE, 'ä', 'Ä'),
            (K::KEY_GRAVE, '^', '°'),
            (K::KEY_BACKSLASH, '#', '\''),
            (K::KEY_102ND, '<', '>'),
            (K::KEY_COMMA, ',', ';'),
            (K::KEY_DOT, '.', ':'),
            (K::KEY_SLASH, '-', '_'),
        ])
    }

    /// French AZERTY: the digits are on the shifted top row.
    pub fn fr() -> Layout {
        use KeyCode as K;
        Layout::us().renamed("fr").with_keys(&[
            (K::KEY_Q, 'a', 'A'),
            (K::KEY_W, 'z', 'Z'),
            (K::KEY_A, 'q', 'Q'),
            (K::KEY_Z, 'w', 'W'),
            (K::KEY_SEMICOLON, 'm', 'M'),
            (K::KEY_M, ',', '?'),
            (K::KEY_COMMA, ';', '.'),
            (K::KEY_DOT, ':', '/'),
            (K::KEY_SLASH, '!', '§'),
            (K::KEY_1, '&', '1'),
            (K::KEY_2, 'é', '2'),
            (K::KEY_3, '"', '3'),
            (K::KEY_4, '\'', '4'),
            (K::KEY_5, '(', '5'),
            (K::KEY_6, '-', '6'),
            (K::KEY_7, 'è', '7'),
            (K::KEY_8, '_', '8'),
            (K::KEY_9, 'ç', '9'),
            (K::KEY_0, 'à', '0'),
            (K::KEY_MINUS, ')', '°'),
            (K::KEY_EQUAL, '=', '+'),
            (K::KEY_LEFTBRACE, '^', '¨'),
            (K::KEY_RIGHTBRACE, '$', '£'),
            (K::KEY_APOSTROPHE, 'ù', '%'),
            (K::KEY_BACKSLASH, '*', 'µ'),
            (K::KEY_102ND, '<', '>'),
        ])
    }

    /// A built-in layout by its config name.
    pub fn named(name: &str) -> Result<Layout, LayoutError> {
        match name.to_ascii_lowercase().as_str() {
            "us" => Ok(Layout::us()),
            "de" => Ok(Layout::de()),
            "fr" => Ok(Layout::fr()),
            _ => Err(LayoutError::UnknownLayout(name.to_string())),
        }
    }

    /// Applies single-key overrides (the adapter's `hid_keys`, not a config key): evdev key
    /// name → two characters (unshifted, shifted).
    pub fn with_overrides(self, table: &BTreeMap<String, String>) -> Result<Layout, LayoutError> {
        let mut keys = Vec::new();
        for (name, value) in table {
            let key: KeyCode = name
                .parse()
                .map_err(|_| LayoutError::UnknownKeyName(name.clone()))?;
            let chars: Vec<char> = value.chars().collect();
            let [normal, shifted] = chars[..] else {
                return Err(LayoutError::BadMapping {
                    key: name.clone(),
                    value: value.clone(),
                });
            };
            keys.push((key, normal, shifted));
        }
        Ok(self.with_keys(&keys))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The character `key` types, if the layout knows it.
    pub fn char_for(&self, key: KeyCode, shifted: bool) -> Option<char> {
        let (normal, shift) = self.keys.get(&key)?;
        Some(if shifted { *shift } else { *normal })
    }

    fn renamed(mut self, name: &str) -> Layout {
        self.name = name.into();
        self
    }

    fn with_keys(mut self, keys: &[(KeyCode, char, char)]) -> Layout {
        for &(key, normal, shifted) in keys {
            self.keys.insert(key, (normal, shifted));
        }
        self
    }
}

/// What one key event means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOutput {
    Char(char),
    /// Enter (main or keypad): the code is complete.
    Enter,
    /// A key was pressed that the layout does not map: the code being typed is spoiled.
    Unmapped(KeyCode),
}

/// Tracks modifier state and maps key presses through a layout.
#[derive(Debug, Clone)]
pub struct KeyMapper {
    layout: Layout,
    left_shift: bool,
    right_shift: bool,
    caps_lock: bool,
}

impl KeyMapper {
    pub fn new(layout: Layout) -> KeyMapper {
        KeyMapper {
            layout,
            left_shift: false,
            right_shift: false,
            caps_lock: false,
        }
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Any evdev event; everything but key presses (sync, scan codes, LEDs) means nothing here.
    pub fn handle_event(&mut self, event: InputEvent) -> Option<KeyOutput> {
        match EventSummary::from(event) {
            EventSummary::Key(_, key, value) => self.handle_key(key, value),
            _ => None,
        }
    }

    /// One key event: `value` 1 is a press, 0 a release, 2 an auto-repeat (ignored).
    pub fn handle_key(&mut self, key: KeyCode, value: i32) -> Option<KeyOutput> {
        match key {
            KeyCode::KEY_LEFTSHIFT => {
                self.left_shift = value != RELEASED;
                return None;
            }
            KeyCode::KEY_RIGHTSHIFT => {
                self.right_shift = value != RELEASED;
                return None;
            }
            _ => {}
        }
        if value != PRESSED {
            return None;
        }
        match key {
            KeyCode::KEY_CAPSLOCK => {
                self.caps_lock = !self.caps_lock;
                None
            }
            KeyCode::KEY_ENTER | KeyCode::KEY_KPENTER => Some(KeyOutput::Enter),
            // Modifiers and locks some scanners send around a code; they type nothing.
            KeyCode::KEY_LEFTCTRL
            | KeyCode::KEY_RIGHTCTRL
            | KeyCode::KEY_LEFTALT
            | KeyCode::KEY_RIGHTALT
            | KeyCode::KEY_LEFTMETA
            | KeyCode::KEY_RIGHTMETA
            | KeyCode::KEY_NUMLOCK
            | KeyCode::KEY_SCROLLLOCK => None,
            _ => {
                let shifted = self.left_shift || self.right_shift;
                match self.layout.char_for(key, shifted) {
                    // Caps lock inverts shift for letters only, as on a PC keyboard.
                    Some(c) if self.caps_lock && c.is_alphabetic() => {
                        Some(KeyOutput::Char(self.layout.char_for(key, !shifted)?))
                    }
                    Some(c) => Some(KeyOutput::Char(c)),
                    None => Some(KeyOutput::Unmapped(key)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use evdev::EventType;

    /// A recorded key-event sequence, written as evdev would deliver it: press, release and
    /// repeat values interleaved with SYN_REPORT, replayed through the mapper. Returns what was
    /// typed, with Enter as '⏎' and unmapped keys as `<KEY_…>`.
    fn replay(mapper: &mut KeyMapper, events: &[(KeyCode, i32)]) -> String {
        let mut typed = String::new();
        for &(key, value) in events {
            let event = InputEvent::new(EventType::KEY.0, key.0, value);
            let sync = InputEvent::new(EventType::SYNCHRONIZATION.0, 0, 0);
            for output in [mapper.handle_event(event), mapper.handle_event(sync)]
                .into_iter()
                .flatten()
            {
                match output {
                    KeyOutput::Char(c) => typed.push(c),
                    KeyOutput::Enter => typed.push('⏎'),
                    KeyOutput::Unmapped(key) => typed.push_str(&format!("<{key:?}>")),
                }
            }
        }
        typed
    }

    /// Press and release of each key, as a scanner types.
    fn taps(keys: &[KeyCode]) -> Vec<(KeyCode, i32)> {
        keys.iter().flat_map(|&k| [(k, 1), (k, 0)]).collect()
    }

    use KeyCode as K;

    #[test]
    fn digits_then_enter_make_a_code() {
        let mut mapper = KeyMapper::new(Layout::us());
        let events = taps(&[
            K::KEY_1,
            K::KEY_3,
            K::KEY_4,
            K::KEY_5,
            K::KEY_0,
            K::KEY_ENTER,
        ]);
        assert_eq!(replay(&mut mapper, &events), "13450⏎");
    }

    #[test]
    fn shift_gives_upper_case_and_symbols_until_released() {
        let mut mapper = KeyMapper::new(Layout::us());
        let mut events = vec![(K::KEY_LEFTSHIFT, 1)];
        events.extend(taps(&[K::KEY_H, K::KEY_1, K::KEY_SLASH]));
        events.push((K::KEY_LEFTSHIFT, 0));
        events.extend(taps(&[K::KEY_H, K::KEY_1]));
        events.push((K::KEY_RIGHTSHIFT, 1));
        events.extend(taps(&[K::KEY_SEMICOLON]));
        events.push((K::KEY_RIGHTSHIFT, 0));
        events.extend(taps(&[K::KEY_KPENTER]));
        assert_eq!(replay(&mut mapper, &events), "H!?h1:⏎");
    }

    #[test]
    fn auto_repeat_is_ignored() {
        let mut mapper = KeyMapper::new(Layout::us());
        let events = [
            (K::KEY_7, 1),
            (K::KEY_7, 2),
            (K::KEY_7, 2),
            (K::KEY_7, 0),
            (K::KEY_8, 1),
            (K::KEY_8, 0),
            (K::KEY_ENTER, 1),
            (K::KEY_ENTER, 2),
            (K::KEY_ENTER, 0),
        ];
        assert_eq!(replay(&mut mapper, &events), "78⏎");
    }

    #[test]
    fn unknown_keys_are_reported_and_modifiers_type_nothing() {
        let mut mapper = KeyMapper::new(Layout::us());
        let mut events = taps(&[K::KEY_LEFTCTRL, K::KEY_NUMLOCK, K::KEY_2]);
        events.extend(taps(&[K::KEY_F13, K::KEY_3, K::KEY_ENTER]));
        assert_eq!(replay(&mut mapper, &events), "2<KEY_F13>3⏎");
    }

    #[test]
    fn caps_lock_affects_letters_only() {
        let mut mapper = KeyMapper::new(Layout::us());
        let mut events = taps(&[K::KEY_CAPSLOCK, K::KEY_A, K::KEY_1]);
        events.push((K::KEY_LEFTSHIFT, 1));
        events.extend(taps(&[K::KEY_A, K::KEY_1]));
        events.push((K::KEY_LEFTSHIFT, 0));
        events.extend(taps(&[K::KEY_CAPSLOCK, K::KEY_A]));
        assert_eq!(replay(&mut mapper, &events), "A1a!a");
    }

    #[test]
    fn azerty_scanners_type_digits_with_shift() {
        let mut mapper = KeyMapper::new(Layout::named("fr").unwrap());
        let mut events = vec![(K::KEY_LEFTSHIFT, 1)];
        events.extend(taps(&[K::KEY_1, K::KEY_3, K::KEY_4, K::KEY_5]));
        events.push((K::KEY_LEFTSHIFT, 0));
        events.extend(taps(&[K::KEY_1, K::KEY_Q]));
        assert_eq!(replay(&mut mapper, &events), "1345&a");
    }

    #[test]
    fn qwertz_swaps_y_and_z() {
        let mut mapper = KeyMapper::new(Layout::named("DE").unwrap());
        assert_eq!(replay(&mut mapper, &taps(&[K::KEY_Y, K::KEY_Z])), "zy");
    }

    #[test]
    fn single_keys_can_be_remapped() {
        let table = BTreeMap::from([("KEY_F13".to_string(), "#~".to_string())]);
        let layout = Layout::us().with_overrides(&table).unwrap();
        let mut mapper = KeyMapper::new(layout);
        assert_eq!(replay(&mut mapper, &taps(&[K::KEY_F13, K::KEY_1])), "#1");

        let bad_name = BTreeMap::from([("KEY_NOPE".to_string(), "ab".to_string())]);
        assert_eq!(
            Layout::us().with_overrides(&bad_name),
            Err(LayoutError::UnknownKeyName("KEY_NOPE".into()))
        );
        let bad_value = BTreeMap::from([("KEY_A".to_string(), "abc".to_string())]);
        let err = Layout::us().with_overrides(&bad_value).unwrap_err();
        assert!(err.to_string().contains("exactly two characters"), "{err}");
        assert_eq!(
            Layout::named("dvorak"),
            Err(LayoutError::UnknownLayout("dvorak".into()))
        );
    }
}
