//! Mail as text: addresses and address lists, Message-IDs, subjects as a thread keeps them, HTML
//! bodies as text, whose senders a mailbox counts as its own, and the HTTP client for Resend's
//! API. The email doors, the mailbox settings, blocked senders and the reply sender share these.

use crate::http::normalized_email;
use crate::runtime::{Error, env_or};
use crate::store::integrations::Mailbox;

/// Resend's API base URL, from `RESEND_API_URL`.
pub fn resend_api_url() -> Result<String, Error> {
    Ok(env_or("RESEND_API_URL", "https://api.resend.com".to_string())?
        .trim_end_matches('/')
        .to_string())
}

/// Whether mail from `address` is the organization's own: the mailbox's addresses, its reply
/// sender, and the addresses and domains it lists.
pub fn is_own_sender(mailbox: &Mailbox, address: &str) -> bool {
    let address = address.to_lowercase();
    let domain = address.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
    let from = mailbox
        .from_address
        .as_deref()
        .and_then(mailbox_address)
        .map(|(_, address)| address);
    mailbox.addresses.contains(&address)
        || from.as_deref() == Some(address.as_str())
        || mailbox.own_senders.iter().any(|own| {
            own == &address || (!own.contains('@') && (domain == own || domain.ends_with(&format!(".{own}"))))
        })
}

/// `Name <addr@host>`, `"Name" <addr@host>` or `addr@host`: the name, if any, and the address,
/// lowercased.
pub fn mailbox_address(text: &str) -> Option<(Option<String>, String)> {
    let text = text.trim();
    match (text.rfind('<'), text.ends_with('>')) {
        (Some(open), true) => {
            let address = normalized_email(&text[open + 1..text.len() - 1])?;
            let name = text[..open].trim().trim_matches('"').trim();
            Some(((!name.is_empty()).then(|| name.to_string()), address))
        }
        _ => Some((None, normalized_email(text)?)),
    }
}

/// The addresses a header lists (`a@x, "B" <b@y>`); unreadable ones are left out.
pub fn address_list(text: &str) -> Vec<String> {
    split_addresses(text)
        .into_iter()
        .filter_map(|part| mailbox_address(&part).map(|(_, address)| address))
        .collect()
}

/// Splits a header's address list at the commas outside quotes and angle brackets.
fn split_addresses(text: &str) -> Vec<String> {
    let (mut parts, mut current, mut quoted, mut angled) = (Vec::new(), String::new(), false, false);
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => angled = true,
            '>' if !quoted => angled = false,
            ',' if !quoted && !angled => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current);
    parts.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

/// An address lowercased, or a bare domain (`@Example.com` gives `example.com`): how blocked
/// and own senders are kept.
pub fn sender_or_domain(sender: &str) -> Option<String> {
    let sender = sender.trim().trim_start_matches('@');
    if sender.contains('@') {
        return normalized_email(sender);
    }
    let domain = sender.to_lowercase();
    let labels_valid = domain.split('.').all(|label| {
        !label.is_empty() && label.len() <= 63 && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    (domain.contains('.') && domain.len() <= 253 && labels_valid).then_some(domain)
}

/// The Message-IDs a header lists (`<a@x> <b@y>`), without angle brackets.
pub fn message_ids(text: &str) -> Vec<String> {
    let ids: Vec<String> = text
        .split(['<', '>', ' ', ',', '\t', '\r', '\n'])
        .map(str::trim)
        .filter(|id| !id.is_empty() && id.contains('@') && id.len() <= 250)
        .map(str::to_string)
        .collect();
    ids
}

/// A Message-ID without its angle brackets and spaces.
pub fn bare_message_id(text: &str) -> Option<String> {
    message_ids(text).into_iter().next()
}

/// The subject a thread keeps: reply and forward prefixes in several languages (`Re:`, `AW:`,
/// `Fwd:`, `FW:`, `WG:`, `SV:`, `Antw:`, also `Re[2]:`) stripped however often they repeat,
/// whitespace collapsed, lowercased.
pub fn normalized_subject(subject: &str) -> String {
    const PREFIXES: [&str; 8] = ["re", "aw", "fwd", "fw", "wg", "sv", "antw", "tr"];
    let mut rest = subject.trim();
    while let Some((head, tail)) = rest.split_once(':') {
        let head = head.trim().to_lowercase();
        // `Re[2]` and `Re(2)` count replies.
        let word = head.split(['[', '(']).next().unwrap_or_default();
        if !PREFIXES.contains(&word) {
            break;
        }
        rest = tail.trim_start();
    }
    rest.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// The text of an HTML body: tags dropped (`<br>` and block ends as line breaks), the common
/// entities decoded, style and script contents left out.
pub fn html_to_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len() / 2);
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        text.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('>') else {
            rest = "";
            break;
        };
        let tag = rest[open + 1..open + close].trim().to_lowercase();
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect();
        rest = &rest[open + close + 1..];
        if !tag.starts_with('/') && (name == "style" || name == "script") {
            let end = format!("</{name}");
            // ASCII lowercasing keeps every offset: full lowercasing changes the length of
            // letters such as `İ` and the Kelvin sign, and its offsets would cut `rest` awry.
            rest = rest.to_ascii_lowercase().find(&end).map_or("", |at| &rest[at..]);
            continue;
        }
        if ["br", "p", "div", "tr", "li", "h1", "h2", "h3", "blockquote"].contains(&name.as_str())
            && (name == "br" || tag.starts_with('/'))
        {
            text.push('\n');
        }
    }
    text.push_str(rest);
    let decoded = text
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    let lines: Vec<&str> = decoded.lines().map(str::trim).collect();
    lines.join("\n").trim().to_string()
}

/// The address a mailbox's routes know it by: lowercased, a `+tag` also without it.
pub fn route_candidates(addresses: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut candidates: Vec<String> = Vec::new();
    for address in addresses {
        let untagged = address
            .split_once('@')
            .and_then(|(local, domain)| Some(format!("{}@{domain}", local.split_once('+')?.0)));
        for candidate in std::iter::once(address).chain(untagged) {
            if !candidates.contains(&candidate) {
                candidates.push(candidate);
            }
        }
    }
    candidates
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_lose_reply_and_forward_prefixes_in_several_languages() {
        for subject in [
            "Where is my order?",
            "Re: Where is my order?",
            "RE: re:  Where is   my order?",
            "AW: Where is my order?",
            "Fwd: Re: Where is my order?",
            "WG: Where is my order?",
            "Re[2]: Where is my order?",
        ] {
            assert_eq!(normalized_subject(subject), "where is my order?", "{subject}");
        }
        assert_eq!(normalized_subject("Reminder: order"), "reminder: order");
        assert_eq!(normalized_subject("Re:"), "");
    }

    #[test]
    fn addresses_are_read_with_or_without_names() {
        assert_eq!(
            mailbox_address("\"Doe, Jane\" <Jane@Example.com>"),
            Some((Some("Doe, Jane".into()), "jane@example.com".into()))
        );
        assert_eq!(
            mailbox_address("jane@example.com"),
            Some((None, "jane@example.com".into()))
        );
        assert_eq!(mailbox_address("not an address"), None);
        assert_eq!(
            address_list("\"Doe, Jane\" <jane@example.com>, b@y.org, junk"),
            vec!["jane@example.com", "b@y.org"]
        );
    }

    #[test]
    fn senders_are_addresses_or_domains() {
        assert_eq!(sender_or_domain(" Spam@Example.com "), Some("spam@example.com".into()));
        assert_eq!(sender_or_domain("@Example.com"), Some("example.com".into()));
        assert_eq!(sender_or_domain("mail.example.com"), Some("mail.example.com".into()));
        for bad in ["example", "exa mple.com", "", "@", "a..b", "x@", "-"] {
            assert_eq!(sender_or_domain(bad), None, "{bad}");
        }
    }

    #[test]
    fn message_id_lists_are_split() {
        assert_eq!(message_ids("<a@x> <b@y>\r\n <c@z>"), vec!["a@x", "b@y", "c@z"]);
        assert_eq!(bare_message_id(" <a@x> "), Some("a@x".into()));
    }

    #[test]
    fn own_senders_are_the_mailbox_its_sender_and_its_domains() {
        let mailbox = Mailbox {
            addresses: vec!["abc@inbound.example".into(), "support@shop.com".into()],
            from_address: Some("Shop Support <help@shop.com>".into()),
            own_senders: vec!["agents.shop.com".into(), "owner@gmail.com".into()],
            sealed_api_key: None,
            token_hash: String::new(),
        };
        for own in [
            "support@shop.com",
            "HELP@shop.com",
            "a@agents.shop.com",
            "a@eu.agents.shop.com",
            "owner@gmail.com",
        ] {
            assert!(is_own_sender(&mailbox, own), "{own}");
        }
        for customer in ["customer@gmail.com", "a@shop.com", "a@notagents.shop.com"] {
            assert!(!is_own_sender(&mailbox, customer), "{customer}");
        }
    }

    #[test]
    fn html_bodies_become_text() {
        let html = "<html><style>p{color:red}</style><p>Hello&nbsp;there</p><p>Line&amp;two<br>three</p></html>";
        assert_eq!(html_to_text(html), "Hello there\nLine&two\nthree");
    }

    #[test]
    fn letters_that_lowercase_to_another_length_in_a_style_block_are_left_out_with_it() {
        // `İ` lowercases to three bytes, the Kelvin sign to one: the block's end was found in
        // the lowercased text and cut the original there (a panic inside a letter).
        assert_eq!(html_to_text("<style>\u{212A}\u{212A}</style>Hi"), "Hi");
        assert_eq!(
            html_to_text(&format!("<style>{}</STYLE>Hi", "\u{130}".repeat(12))),
            "Hi"
        );
        // The fuzzer's input (mail_text), minimized: `Ⱥ` lowercases to three bytes.
        assert_eq!(html_to_text("<style>ȺȺȺȺȺȺȺȺ</Style"), "");
    }

    #[test]
    fn a_tagged_address_also_routes_without_its_tag() {
        assert_eq!(
            route_candidates(["a+shop@x.com".to_string(), "b@y.com".to_string()]),
            vec!["a+shop@x.com", "a@x.com", "b@y.com"]
        );
    }
}
