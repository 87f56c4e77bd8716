//! Mail header and body text: addresses and address lists, senders, Message-IDs, subjects,
//! HTML bodies (Resend's fetched mail, mailbox settings and blocked senders read them too).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::mail::{
    address_list, bare_message_id, html_to_text, mailbox_address, message_ids, normalized_subject, route_candidates,
    sender_or_domain,
};

fuzz_target!(|text: &str| {
    let _ = mailbox_address(text);
    let _ = route_candidates(address_list(text));
    let _ = sender_or_domain(text);
    let _ = message_ids(text);
    let _ = bare_message_id(text);
    let _ = normalized_subject(text);
    let _ = html_to_text(text);
});
