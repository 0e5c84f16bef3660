//! Bounded property test: the corpus with bytes flipped, cut and inserted
//! never makes the normaliser panic, and whatever it returns is a
//! well-formed event (valid JSON that reads back, text within the cap).

use std::path::PathBuf;

use chrono::Utc;
use intake_channel_email::normalise::{Limits, Mailbox, normalise};
use proptest::prelude::*;

fn corpus() -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut mails: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    mails.sort();
    mails.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Cut(usize),
    Insert(usize, Vec<u8>),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Flip(i, b)),
        any::<usize>().prop_map(Edit::Cut),
        (
            any::<usize>(),
            prop::collection::vec(
                prop_oneof![
                    Just(b'='),
                    Just(b'?'),
                    Just(b'\r'),
                    Just(b'\n'),
                    Just(b'-'),
                    any::<u8>()
                ],
                1..16
            )
        )
            .prop_map(|(i, bytes)| Edit::Insert(i, bytes)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_corpus_mail_never_panics(which in any::<usize>(), edits in prop::collection::vec(edit(), 1..8)) {
        let mails = corpus();
        let mut raw = mails[which % mails.len()].clone();
        for edit in edits {
            let len = raw.len().max(1);
            match edit {
                Edit::Flip(i, b) => { if !raw.is_empty() { let i = i % len; raw[i] = b; } }
                Edit::Cut(i) => raw.truncate(i % len),
                Edit::Insert(i, bytes) => { let i = i % (raw.len() + 1); raw.splice(i..i, bytes); }
            }
        }
        let mailbox = Mailbox {
            address: "help@example.test".to_owned(),
            aliases: Vec::new(),
            limits: Limits { max_attachment_bytes: 10_000, max_attachments: 3 },
            trusted_authserv_ids: Vec::new(),
            ticket_token: Default::default(),
        };
        if let Ok(normalised) = normalise(&raw, &mailbox, Utc::now()) {
            let event = normalised.event;
            prop_assert!(event.text.chars().count() <= intake_event::MAX_TEXT_CHARS);
            let json = event.to_json();
            prop_assert!(intake_channel::TicketEvent::from_json(&json).is_ok());
        }
    }
}
