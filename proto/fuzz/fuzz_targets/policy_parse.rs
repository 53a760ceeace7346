//! The policy parsers from arbitrary bytes: a signature file, a served rule set, and the
//! inspection of content made of the bytes under that rule set.
//!
//! Checks, beyond "no panic": a rule set that parses re-encodes to one that parses to the same
//! rules; a signature file that parses still catches EICAR; inspection gives a verdict.
#![no_main]

use herald_proto::policy::{Attachment, MailContent, RuleSet};
use herald_proto::scan::{EICAR, ScanVerdict, Scanner as _, SignatureScanner};
use herald_proto::wire::{decode_valid, pb};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(scanner) = SignatureScanner::from_file_bytes(data) {
        assert!(matches!(
            scanner.scan(EICAR),
            Ok(ScanVerdict::Infected { .. })
        ));
        let _ = scanner.scan(data);
    }
    let mut rules = RuleSet::default();
    if let Ok(wire) = decode_valid::<pb::PolicyRules>(data)
        && let Ok(parsed) = RuleSet::from_wire(&wire)
    {
        assert_eq!(RuleSet::from_wire(&parsed.to_wire()).as_ref(), Ok(&parsed));
        rules = parsed;
    }
    let content = MailContent {
        subject: String::from_utf8_lossy(data).into_owned(),
        body: data.to_vec(),
        attachments: vec![Attachment::new(
            "f",
            "application/octet-stream",
            data.to_vec(),
        )],
    };
    let _ = content.inspect(&rules, &SignatureScanner::default());
});
