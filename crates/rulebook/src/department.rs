//! Rule 6, the pure part: requests that are not for support go to the
//! department that owns them. Rules are tried in order; the first whose
//! every given criterion matches wins (channel, sender domain, and a
//! keyword or regular expression on the subject or text).

use intake_event::TicketEvent;
use regex::Regex;

use crate::slack::SlackTarget;

/// One department rule, validated.
#[derive(Debug, Clone)]
pub struct DepartmentRule {
    /// Short name, used in tags (`intake_department_<name>`): `[a-z0-9_]+`.
    pub name: String,
    /// The Zendesk group the ticket goes to.
    pub group_id: u64,
    /// Only requests of these channels (empty: any).
    pub channels: Vec<String>,
    /// Only senders of these e-mail domains (lower case; empty: any).
    pub sender_domains: Vec<String>,
    /// Any of these (lower case) in the subject or text (with `patterns`:
    /// either kind matching is enough; both empty: no text criterion).
    pub keywords: Vec<String>,
    pub patterns: Vec<Regex>,
    /// Where the department hears of it.
    pub slack: Option<SlackTarget>,
}

impl PartialEq for DepartmentRule {
    fn eq(&self, other: &Self) -> bool {
        let patterns = |r: &Self| {
            r.patterns
                .iter()
                .map(|p| p.as_str().to_owned())
                .collect::<Vec<_>>()
        };
        self.name == other.name
            && self.group_id == other.group_id
            && self.channels == other.channels
            && self.sender_domains == other.sender_domains
            && self.keywords == other.keywords
            && patterns(self) == patterns(other)
            && self.slack == other.slack
    }
}

/// A department rule that matched, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct DepartmentHit {
    pub rule: DepartmentRule,
    /// Its place in the list (first match wins).
    pub index: usize,
    /// What matched, for the note and `route-explain`.
    pub why: String,
}

/// The first rule matching `event`.
pub fn first_match(rules: &[DepartmentRule], event: &TicketEvent) -> Option<DepartmentHit> {
    rules.iter().enumerate().find_map(|(index, rule)| {
        matches(rule, event).map(|why| DepartmentHit {
            rule: rule.clone(),
            index,
            why,
        })
    })
}

/// Why `rule` matches `event`, or None.
fn matches(rule: &DepartmentRule, event: &TicketEvent) -> Option<String> {
    let mut why = Vec::new();
    if !rule.channels.is_empty() {
        if !rule.channels.contains(&event.channel) {
            return None;
        }
        why.push(format!("channel {}", event.channel));
    }
    if !rule.sender_domains.is_empty() {
        let domain = event
            .contact
            .email
            .as_deref()
            .and_then(|e| e.rsplit_once('@'))
            .map(|(_, domain)| domain.trim().to_lowercase())?;
        if !rule.sender_domains.contains(&domain) {
            return None;
        }
        why.push(format!("sender domain {domain}"));
    }
    if !rule.keywords.is_empty() || !rule.patterns.is_empty() {
        why.push(text_match(rule, event)?);
    }
    (!why.is_empty()).then(|| why.join(", "))
}

fn text_match(rule: &DepartmentRule, event: &TicketEvent) -> Option<String> {
    let fields = [
        ("subject", event.subject.as_deref().unwrap_or_default()),
        ("text", event.text.as_str()),
    ];
    for (field, value) in fields {
        let lower = value.to_lowercase();
        if let Some(keyword) = rule.keywords.iter().find(|k| lower.contains(k.as_str())) {
            return Some(format!("keyword {keyword:?} in the {field}"));
        }
        if let Some(pattern) = rule.patterns.iter().find(|p| p.is_match(value)) {
            return Some(format!("pattern /{}/ in the {field}", pattern.as_str()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use intake_event::Contact;

    fn rule(name: &str) -> DepartmentRule {
        DepartmentRule {
            name: name.to_owned(),
            group_id: 1,
            channels: Vec::new(),
            sender_domains: Vec::new(),
            keywords: Vec::new(),
            patterns: Vec::new(),
            slack: None,
        }
    }

    fn mail(from: &str, subject: &str, text: &str) -> TicketEvent {
        let contact = Contact {
            key: format!("email:{from}"),
            email: Some(from.to_owned()),
            verified: true,
            ..Contact::default()
        };
        let mut event = TicketEvent::new("email", "m1", contact, text, Utc::now());
        event.subject = Some(subject.to_owned());
        event
    }

    #[test]
    fn the_first_rule_whose_criteria_all_match_wins() {
        let sales = DepartmentRule {
            keywords: vec!["invoice".into(), "счёт".into()],
            patterns: vec![Regex::new(r"(?i)\bprice list\b").unwrap()],
            ..rule("sales")
        };
        let partners = DepartmentRule {
            sender_domains: vec!["partner.test".into()],
            channels: vec!["email".into()],
            ..rule("partners")
        };
        let rules = [partners, sales];
        let hit = first_match(
            &rules,
            &mail("ann@customer.test", "Invoice for November", "hi"),
        )
        .unwrap();
        assert_eq!((hit.rule.name.as_str(), hit.index), ("sales", 1));
        assert_eq!(hit.why, "keyword \"invoice\" in the subject");
        let hit = first_match(
            &rules,
            &mail("ann@customer.test", "Hello", "Пришлите СЧЁТ, пожалуйста"),
        )
        .unwrap();
        assert_eq!(hit.why, "keyword \"счёт\" in the text");
        let hit = first_match(
            &rules,
            &mail("ann@customer.test", "q", "your Price List please"),
        )
        .unwrap();
        assert!(hit.why.starts_with("pattern"), "{}", hit.why);
        let hit = first_match(&rules, &mail("bob@Partner.test", "Invoice", "x")).unwrap();
        assert_eq!(hit.rule.name, "partners", "first match wins");
        assert_eq!(hit.why, "channel email, sender domain partner.test");
        assert_eq!(
            first_match(&rules, &mail("ann@customer.test", "Printer", "broken")),
            None
        );
    }

    #[test]
    fn every_given_criterion_must_match() {
        let rule = DepartmentRule {
            channels: vec!["chat".into()],
            keywords: vec!["invoice".into()],
            ..rule("billing")
        };
        let rules = [rule];
        assert_eq!(
            first_match(&rules, &mail("a@b.test", "invoice", "")),
            None,
            "wrong channel"
        );
        let mut chat = mail("a@b.test", "", "where is my invoice");
        chat.channel = "chat".into();
        assert!(first_match(&rules, &chat).is_some());
    }
}
