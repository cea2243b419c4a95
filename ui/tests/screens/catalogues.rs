//! The screens' texts and their catalogues (`ui/lang/<lang>/LC_MESSAGES/aufruf-ui.po`,
//! written by `ui/lang/catalogues.py`): every text has its German, every kiosk text
//! its Ukrainian, Arabic and Turkish, and no catalogue holds a text no screen shows.

use std::collections::BTreeSet;

const SCREENS: [(&str, &str); 3] = [
    ("kiosk", include_str!("../../ui/kiosk.slint")),
    ("desk", include_str!("../../ui/desk.slint")),
    ("display", include_str!("../../ui/display.slint")),
];

const CATALOGUES: [(&str, &str); 4] = [
    ("de", include_str!("../../lang/de/LC_MESSAGES/aufruf-ui.po")),
    ("uk", include_str!("../../lang/uk/LC_MESSAGES/aufruf-ui.po")),
    ("ar", include_str!("../../lang/ar/LC_MESSAGES/aufruf-ui.po")),
    ("tr", include_str!("../../lang/tr/LC_MESSAGES/aufruf-ui.po")),
];

/// The first string after each `@tr(`: the text to translate (a plural's singular).
fn texts(slint: &str) -> BTreeSet<String> {
    slint
        .split("@tr(\"")
        .skip(1)
        .map(|rest| {
            let mut text = String::new();
            let mut chars = rest.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => text.extend(chars.next()),
                    '"' => break,
                    c => text.push(c),
                }
            }
            text
        })
        .collect()
}

/// The `msgid`s of a catalogue, with the translation of each (empty: none).
fn catalogue(po: &str) -> Vec<(String, String)> {
    let unquote = |line: &str, key: &str| {
        line.strip_prefix(key).map(|rest| {
            rest.trim()
                .trim_matches('"')
                .replace("\\\"", "\"")
                .replace("\\\\", "\\")
        })
    };
    let mut entries = Vec::new();
    let mut id: Option<String> = None;
    for line in po.lines() {
        if let Some(text) = unquote(line, "msgid ") {
            id = Some(text);
        } else if let Some(text) = unquote(line, "msgstr ").or_else(|| unquote(line, "msgstr[0] "))
            && let Some(id) = id.take()
        {
            entries.push((id, text));
        }
    }
    entries
}

#[test]
fn every_text_of_the_screens_is_translated_and_no_catalogue_holds_another() {
    let kiosk: BTreeSet<String> = texts(SCREENS[0].1);
    let all: BTreeSet<String> = SCREENS.iter().flat_map(|(_, s)| texts(s)).collect();
    assert!(kiosk.len() > 20 && all.len() > kiosk.len(), "{all:?}");
    for (lang, po) in CATALOGUES {
        let entries = catalogue(po);
        let ids: BTreeSet<String> = entries.iter().map(|(id, _)| id.clone()).collect();
        let wanted = if lang == "de" { &all } else { &kiosk };
        let missing: Vec<_> = wanted.difference(&ids).collect();
        assert!(missing.is_empty(), "{lang}: no translation of {missing:?}");
        let (header, texts): (Vec<_>, Vec<_>) = entries.iter().partition(|(id, _)| id.is_empty());
        assert_eq!(header.len(), 1, "{lang}: one header");
        let unused: Vec<_> = ids
            .iter()
            .filter(|id| !id.is_empty() && !all.contains(*id))
            .collect();
        assert!(unused.is_empty(), "{lang}: no screen shows {unused:?}");
        let empty: Vec<_> = texts.iter().filter(|(_, t)| t.is_empty()).collect();
        assert!(empty.is_empty(), "{lang}: empty translations {empty:?}");
    }
}
