//! Support tickets and their conversation entries.
//!
//! | item                | PK                               | SK                 | GSI1PK                  | GSI1SK                       |
//! |---------------------|----------------------------------|--------------------|-------------------------|------------------------------|
//! | ticket              | `ORG#<org>#TICKET#<id>`          | `TICKET`           | `ORG#<org>#TICKETS`     | `<created_at>#<id>`          |
//! | (its GSI2 view)     |                                  |                    | GSI2PK `ORG#<org>#CUSTOMER#<email>#TICKETS` | GSI2SK `<created_at>#<id>` |
//! | conversation entry  | `ORG#<org>#TICKET#<id>`          | `ENTRY#<ulid>`     | `ORG#<org>#ENTRIES`     | `<created_at>#<entry id>`    |
//! | entry lookup        | `ORG#<org>#ENTRY#<entry id>`     | `ENTRY`            | –                       | –                            |
//! | ticket number       | `ORG#<org>#TICKETNO#<number>`    | `TICKETNO`         | –                       | –                            |
//! | ticket counter      | `ORG#<org>#COUNTER#TICKETS`      | `COUNTER`          | –                       | –                            |
//!
//! Access patterns:
//! - Open a ticket: one `UpdateItem ADD` on the counter gives the next number (atomic, so
//!   concurrent openings get distinct consecutive numbers), then one `TransactWriteItems` puts
//!   the ticket, its number item and its first entry, each only if absent.
//! - A ticket by id: `GetItem`; by number: `GetItem` of the number item, then of the ticket.
//! - The organization's tickets, newest first, created within a range: `Query GSI1` on
//!   `ORG#<org>#TICKETS` with `GSI1SK BETWEEN`, the other filters as a filter expression; a
//!   customer's tickets the same on GSI2's `ORG#<org>#CUSTOMER#<email>#TICKETS` (a ticket's
//!   customer does not change), so they are read without passing over anyone else's.
//! - The thread: `Query PK = ORG#<org>#TICKET#<id>, SK begins_with ENTRY#` (oldest first).
//! - Entries across tickets since a time: `Query GSI1` on `ORG#<org>#ENTRIES`, `GSI1SK > since`;
//!   one entry by id: `GetItem` of its lookup item, then of the entry.
//! - Add an entry: one `TransactWriteItems` putting the entry and updating the ticket (message
//!   count, status, first response) on condition that the ticket exists and is not closed.
//! - Counts by status: attributes `status_<status>` of the counter item, moved in the same
//!   transaction as every status change (which holds only while the status is still the one
//!   read), read with one `GetItem`.

use std::collections::{BTreeMap, HashMap};

use super::dynamodb::AttributeValueExt;
use super::dynamodb::{AttributeValue, ReturnValue, TransactWriteItem};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::attachments::AttachmentRef;
use super::chat::EntryChat;
use super::csat::{CsatToken, TicketCsat};
use super::mail::{EntryDelivery, EntryEmail, MESSAGE_ID, message_id_pk, provider_message_key};
use super::sla::TicketSla;
use super::{
    GSI1PK, GSI1SK, GSI2PK, GSI2SK, Item, NOT_STORED, PK, SK, Store, StoreError, entity_item, get_n, get_s, n,
    org_prefix, query_all, s, store_error,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    New,
    Open,
    Pending,
    Solved,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    #[default]
    Normal,
    High,
    Urgent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    #[default]
    Api,
    Email,
    Widget,
    Whatsapp,
    Messenger,
    Slack,
    Sms,
    Phone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuthorType {
    Customer,
    Agent,
    Ai,
    System,
}

impl Channel {
    /// The name the API and the table use (`whatsapp`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Channel::Api => "api",
            Channel::Email => "email",
            Channel::Widget => "widget",
            Channel::Whatsapp => "whatsapp",
            Channel::Messenger => "messenger",
            Channel::Slack => "slack",
            Channel::Sms => "sms",
            Channel::Phone => "phone",
        }
    }
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::New,
        Status::Open,
        Status::Pending,
        Status::Solved,
        Status::Closed,
    ];

    /// The name the API and the table use (`open`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Open => "open",
            Status::Pending => "pending",
            Status::Solved => "solved",
            Status::Closed => "closed",
        }
    }

    /// Not yet solved: the customer is waiting on the desk or the desk on the customer.
    pub const fn is_unsolved(self) -> bool {
        matches!(self, Status::New | Status::Open | Status::Pending)
    }
}

/// A support ticket, stored as the API shows it: its fields are top-level attributes (see
/// [`super::entity_item`]), so filters can read them; the organization is in its key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Ticket {
    #[serde(skip)]
    pub org_id: String,
    #[serde(rename = "id")]
    pub ticket_id: String,
    /// Per organization, from 1, in the order tickets were opened.
    #[serde(rename = "ticketNumber")]
    pub number: u64,
    pub subject: String,
    pub status: Status,
    pub priority: Priority,
    /// Where the ticket came from.
    pub channel: Channel,
    pub customer_email: Option<String>,
    pub assignee: Option<String>,
    pub team: Option<String>,
    pub category: Option<String>,
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub custom_fields: Map<String, Value>,
    pub order_numbers: Vec<String>,
    pub message_count: u32,
    /// The customer's rating, once a reply was rated.
    pub csat: Option<TicketCsat>,
    /// The last escalation, when the ticket was escalated.
    pub escalation: Option<Escalation>,
    /// Its SLA targets and breaches, when a policy applies to it.
    pub sla: Option<TicketSla>,
    pub created_at: String,
    pub updated_at: String,
    pub first_response_at: Option<String>,
    pub solved_at: Option<String>,
}

/// A ticket handed to a team, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Escalation {
    pub team: String,
    pub reason: String,
    pub escalated_at: String,
}

/// One message of a ticket's thread: a customer's message, a reply, or an internal note,
/// stored as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Entry {
    #[serde(rename = "id")]
    pub entry_id: String,
    pub ticket_id: String,
    pub author: EntryAuthor,
    pub content_text: String,
    /// Rich content (a document tree), when the author sent one.
    #[schema(value_type = Option<Object>)]
    pub content: Option<Value>,
    /// `inbound` (from the customer), `outbound` (to the customer) or `internal`.
    pub direction: String,
    pub channel: Channel,
    pub internal: bool,
    /// The provider's id of the message (an email's Message-ID), for threading and deduplication.
    pub provider_message_id: Option<String>,
    /// Files sent with it (`GET /api/attachments/{id}/download`).
    #[serde(default)]
    pub attachments: Vec<AttachmentRef>,
    /// A mail's addressing and threading, on entries that came or went by email.
    #[serde(default)]
    pub email: Option<EntryEmail>,
    /// Where sending a reply through its channel stands (email and chat tickets).
    #[serde(default)]
    pub delivery: Option<EntryDelivery>,
    /// A chat channel's message: where it came from, so that replies go back there.
    #[serde(default)]
    pub chat: Option<EntryChat>,
    pub created_at: String,
}

/// Who wrote an entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EntryAuthor {
    pub role: AuthorType,
    pub name: Option<String>,
}

/// What adding an entry does to its ticket.
pub struct EntryEffect<'a> {
    /// The status the ticket moves to, when the entry moves it.
    pub status: Option<Status>,
    /// The entry is the ticket's first response to the customer.
    pub first_response: bool,
    /// The CSAT token the entry (an AI reply) carries, with its secret.
    pub csat: Option<(&'a CsatToken, &'a str)>,
}

/// The filters of a ticket list; each is optional.
#[derive(Debug, Default, Clone)]
pub struct TicketFilter {
    pub status: Option<String>,
    pub priority: Option<String>,
    pub channel: Option<String>,
    /// An assignee's id, or `None` inside `Some` for unassigned tickets.
    pub assignee: Option<Option<String>>,
    pub tag: Option<String>,
    pub customer_email: Option<String>,
    /// Words the subject or the customer's email contains (lowercased).
    pub text: Option<String>,
    pub created_after: Option<String>,
    pub created_before: Option<String>,
    pub updated_after: Option<String>,
    pub updated_before: Option<String>,
}

/// One page of tickets.
pub struct TicketPage {
    pub tickets: Vec<Ticket>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Item>,
}

/// The ticket's SLA: changed by an update only when the ticket takes new targets.
const SLA: &str = "sla";

/// The attribute that `q` searches: the subject and customer email, lowercased.
const SEARCH: &str = "search_text";

fn search_text(ticket: &Ticket) -> String {
    format!(
        "{}\n{}",
        ticket.subject.to_lowercase(),
        ticket.customer_email.as_deref().unwrap_or_default()
    )
}

/// Index items one read evaluates at the least (a filter may keep few of them).
const INDEX_PAGE: i32 = 100;
/// Index reads one list request makes at the most.
const MAX_INDEX_READS: usize = 20;

/// What a ticket update may change.
const CHANGEABLE: [&str; 13] = [
    "subject",
    "status",
    "priority",
    "assignee",
    "team",
    "category",
    "tags",
    "custom_fields",
    "order_numbers",
    "updated_at",
    "solved_at",
    "escalation",
    SEARCH,
];

pub(crate) fn ticket_pk(org_id: &str, ticket_id: &str) -> String {
    format!("{}#TICKET#{ticket_id}", org_prefix(org_id))
}

/// The organization's ticket counter: the last number given, and a count per status.
fn counter_pk(org_id: &str) -> String {
    format!("{}#COUNTER#TICKETS", org_prefix(org_id))
}

/// Prefix of the counter's per-status attributes (`status_open`).
const STATUS_COUNT: &str = "status_";

/// An item that finds a ticket from another key of it (its number, an entry's id).
fn ticket_pointer(pk: String, sk: &str, ticket_id: &str) -> Item {
    HashMap::from([
        (PK.to_string(), s(pk)),
        (SK.to_string(), s(sk)),
        ("ticket_id".to_string(), s(ticket_id)),
    ])
}

fn number_pk(org_id: &str, number: u64) -> String {
    format!("{}#TICKETNO#{number}", org_prefix(org_id))
}

/// The index partition listing an organization's tickets; cursors are checked against it.
pub fn tickets_index_pk(org_id: &str) -> String {
    format!("{}#TICKETS", org_prefix(org_id))
}

/// The GSI2 partition listing one customer's tickets.
pub fn customer_tickets_index_pk(org_id: &str, email: &str) -> String {
    format!("{}#CUSTOMER#{email}#TICKETS", org_prefix(org_id))
}

/// The index partition a list with `filter` reads; its cursors are checked against it.
pub fn ticket_list_index_pk(org_id: &str, filter: &TicketFilter) -> String {
    match &filter.customer_email {
        Some(email) => customer_tickets_index_pk(org_id, email),
        None => tickets_index_pk(org_id),
    }
}

fn ticket_item(ticket: &Ticket) -> Result<Item, StoreError> {
    let mut item = entity_item(ticket)?;
    item.insert(PK.into(), s(ticket_pk(&ticket.org_id, &ticket.ticket_id)));
    item.insert(SK.into(), s("TICKET"));
    item.insert(SEARCH.into(), s(search_text(ticket)));
    item.insert(GSI1PK.into(), s(tickets_index_pk(&ticket.org_id)));
    item.insert(GSI1SK.into(), s(format!("{}#{}", ticket.created_at, ticket.ticket_id)));
    if let Some(email) = &ticket.customer_email {
        item.insert(GSI2PK.into(), s(customer_tickets_index_pk(&ticket.org_id, email)));
        item.insert(GSI2SK.into(), s(format!("{}#{}", ticket.created_at, ticket.ticket_id)));
    }
    Ok(item)
}

pub(crate) fn ticket_from(org_id: &str, item: Item) -> Result<Ticket, StoreError> {
    let ticket: Ticket =
        serde_dynamo::from_item(item).map_err(|e| StoreError::Unavailable(format!("unreadable ticket: {e}")))?;
    Ok(Ticket {
        org_id: org_id.to_string(),
        ..ticket
    })
}

fn entry_item(org_id: &str, entry: &Entry) -> Result<Item, StoreError> {
    let mut item = entity_item(entry)?;
    item.insert(PK.into(), s(ticket_pk(org_id, &entry.ticket_id)));
    item.insert(SK.into(), s(format!("ENTRY#{}", entry.entry_id)));
    item.insert(GSI1PK.into(), s(entries_index_pk(org_id)));
    item.insert(GSI1SK.into(), s(format!("{}#{}", entry.created_at, entry.entry_id)));
    Ok(item)
}

/// The index partition of every entry of the organization, oldest first.
pub fn entries_index_pk(org_id: &str) -> String {
    format!("{}#ENTRIES", org_prefix(org_id))
}

fn entry_lookup_pk(org_id: &str, entry_id: &str) -> String {
    format!("{}#ENTRY#{entry_id}", org_prefix(org_id))
}

impl Store {
    /// The writes that store an entry: the entry in its ticket's partition, and the item that
    /// finds its ticket from its id alone.
    /// An inbound mail's Message-ID, or a chat message's provider id, is stored with it (see
    /// `mail`): the same message can never land twice, and later mail that names it threads
    /// onto its ticket.
    fn entry_writes(&self, org_id: &str, entry: &Entry) -> Result<Vec<TransactWriteItem>, StoreError> {
        let lookup = ticket_pointer(entry_lookup_pk(org_id, &entry.entry_id), "ENTRY", &entry.ticket_id);
        let mut writes = vec![
            self.transact_put(entry_item(org_id, entry)?, Some(NOT_STORED)),
            self.transact_put(lookup, Some(NOT_STORED)),
        ];
        if let Some(key) = provider_message_key(entry) {
            let pointer = ticket_pointer(message_id_pk(org_id, &key), MESSAGE_ID, &entry.ticket_id);
            writes.push(self.transact_put(pointer, Some(NOT_STORED)));
        }
        Ok(writes)
    }

    /// Whether an entry is stored, seeing every write acknowledged before.
    pub async fn entry_stored(&self, org_id: &str, entry_id: &str) -> Result<bool, StoreError> {
        let lookup = self
            .get_item_consistent(entry_lookup_pk(org_id, entry_id), "ENTRY")
            .await?;
        Ok(lookup.is_some())
    }

    /// One entry by its id.
    pub async fn get_entry(&self, org_id: &str, entry_id: &str) -> Result<Option<Entry>, StoreError> {
        let Some(lookup) = self.get_item(entry_lookup_pk(org_id, entry_id), "ENTRY").await? else {
            return Ok(None);
        };
        let Some(ticket_id) = get_s(&lookup, "ticket_id") else {
            return Ok(None);
        };
        self.get_item(ticket_pk(org_id, ticket_id), &format!("ENTRY#{entry_id}"))
            .await?
            .map(entry_from)
            .transpose()
    }

    /// The organization's entries across tickets, oldest first, created after `since`.
    pub async fn list_entries_since(
        &self,
        org_id: &str,
        since: &str,
        limit: i32,
        start: Option<Item>,
    ) -> Result<(Vec<Entry>, Option<Item>), StoreError> {
        let output = self
            .query_index_where(entries_index_pk(org_id), "GSI1SK > :since")
            .expression_attribute_values(":since", s(since))
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(store_error)?;
        let entries = output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(entry_from)
            .collect::<Result<_, _>>()?;
        Ok((entries, output.last_evaluated_key))
    }
}

fn entry_from(item: Item) -> Result<Entry, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Unavailable(format!("unreadable entry: {e}")))
}

impl Store {
    /// The next ticket number of the organization: atomic, so concurrent openings never share one.
    pub async fn next_ticket_number(&self, org_id: &str) -> Result<u64, StoreError> {
        let output = self
            .update_item(counter_pk(org_id), "COUNTER")
            .update_expression("ADD next_number :one")
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(store_error)?;
        output
            .attributes()
            .and_then(|item| get_n(item, "next_number"))
            .ok_or_else(|| StoreError::Unavailable("the ticket counter returned no number".into()))
    }

    /// Stores a new ticket (numbered by [`Store::next_ticket_number`]) with its first entry, if any.
    pub async fn create_ticket(&self, ticket: &Ticket, first: Option<&Entry>) -> Result<(), StoreError> {
        let number = ticket_pointer(number_pk(&ticket.org_id, ticket.number), "TICKETNO", &ticket.ticket_id);
        let mut writes = vec![
            self.transact_put(ticket_item(ticket)?, Some(NOT_STORED)),
            self.transact_put(number, Some(NOT_STORED)),
        ];
        if let Some(entry) = first {
            writes.extend(self.entry_writes(&ticket.org_id, entry)?);
        }
        if let Some(sla) = &ticket.sla {
            writes.extend(self.sla_due_writes(&ticket.org_id, &ticket.ticket_id, sla));
        }
        writes.push(self.status_count_write(&ticket.org_id, None, ticket.status));
        match self.transact(writes).await? {
            true => Ok(()),
            // Its id is new and its number was just given: neither can be taken.
            false => Err(StoreError::Unavailable("a new ticket's id or number was taken".into())),
        }
    }

    pub async fn get_ticket(&self, org_id: &str, ticket_id: &str) -> Result<Option<Ticket>, StoreError> {
        self.get_item(ticket_pk(org_id, ticket_id), "TICKET")
            .await?
            .map(|item| ticket_from(org_id, item))
            .transpose()
    }

    /// A ticket by its number.
    pub async fn get_ticket_by_number(&self, org_id: &str, number: u64) -> Result<Option<Ticket>, StoreError> {
        let Some(item) = self.get_item(number_pk(org_id, number), "TICKETNO").await? else {
            return Ok(None);
        };
        match get_s(&item, "ticket_id") {
            Some(ticket_id) => self.get_ticket(org_id, ticket_id).await,
            None => Ok(None),
        }
    }

    /// Sets a ticket's changeable fields to `ticket`'s, leaving what replies change (message
    /// count, first response) as stored, and answers the ticket as stored. Both hold only while
    /// the ticket's status is still `previous_status`; a status change also moves the ticket
    /// between the organization's counts, in the same transaction. `None`: the ticket is gone
    /// or its status changed meanwhile.
    ///
    /// `new_sla`: the ticket took new SLA targets (a new priority); they replace the stored ones
    /// and are indexed by due time in the same transaction. Otherwise the stored SLA is left as
    /// it is, breaches recorded meanwhile included.
    pub async fn update_ticket(
        &self,
        ticket: &Ticket,
        previous_status: Status,
        new_sla: bool,
    ) -> Result<Option<Ticket>, StoreError> {
        let mut item = ticket_item(ticket)?;
        let mut names = HashMap::from([("#status".to_string(), "status".to_string())]);
        let mut values = HashMap::from([(":previous".to_string(), s(previous_status.as_str()))]);
        let (mut sets, mut removals) = (Vec::new(), Vec::new());
        let sla_field = new_sla.then_some(SLA);
        for (i, field) in CHANGEABLE.iter().chain(sla_field.iter()).enumerate() {
            names.insert(format!("#c{i}"), field.to_string());
            match item.remove(*field) {
                Some(value) => {
                    sets.push(format!("#c{i} = :c{i}"));
                    values.insert(format!(":c{i}"), value);
                }
                None => removals.push(format!("#c{i}")),
            }
        }
        let pk = ticket_pk(&ticket.org_id, &ticket.ticket_id);
        let (expression, condition) = (
            update_expression(&sets, &removals),
            "attribute_exists(PK) AND #status = :previous",
        );
        let mut due = Vec::new();
        if let (true, Some(sla)) = (new_sla, &ticket.sla) {
            due = self.sla_due_writes(&ticket.org_id, &ticket.ticket_id, sla);
        }
        if ticket.status == previous_status && due.is_empty() {
            // Nothing to count or index: one update, which answers the ticket it leaves.
            let result = self
                .update_item(pk, "TICKET")
                .update_expression(expression)
                .condition_expression(condition)
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(Some(values))
                .return_values(ReturnValue::AllNew)
                .send()
                .await;
            return match super::unless_condition_failed(result)? {
                Some(output) => output
                    .attributes
                    .map(|item| ticket_from(&ticket.org_id, item))
                    .transpose(),
                None => Ok(None),
            };
        }
        let update = self
            .update_item(pk, "TICKET")
            .update_expression(expression)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values));
        let mut writes = vec![update.into_update()];
        if ticket.status != previous_status {
            writes.push(self.status_count_write(&ticket.org_id, Some(previous_status), ticket.status));
        }
        writes.extend(due);
        if !self.transact(writes).await? {
            return Ok(None);
        }
        // A transaction answers nothing: read what it left.
        self.get_ticket_consistent(&ticket.org_id, &ticket.ticket_id).await
    }

    /// The organization's tickets by status.
    pub async fn ticket_counts(&self, org_id: &str) -> Result<BTreeMap<String, i64>, StoreError> {
        let counter = self.get_item_consistent(counter_pk(org_id), "COUNTER").await?;
        Ok(counter
            .iter()
            .flat_map(|item| item.iter())
            .filter_map(|(name, value)| {
                let status = name.strip_prefix(STATUS_COUNT)?;
                Some((status.to_string(), value.as_n().ok()?.parse().ok()?))
            })
            .collect())
    }

    /// The write that moves one ticket from status `from` (none: a new ticket) to `to` in the
    /// organization's counts.
    fn status_count_write(&self, org_id: &str, from: Option<Status>, to: Status) -> TransactWriteItem {
        let mut update = self
            .update_item(counter_pk(org_id), "COUNTER")
            .expression_attribute_names("#to", format!("{STATUS_COUNT}{}", to.as_str()))
            .expression_attribute_values(":one", n(1));
        update = match from {
            Some(from) => update
                .update_expression("ADD #to :one, #from :minus_one")
                .expression_attribute_names("#from", format!("{STATUS_COUNT}{}", from.as_str()))
                .expression_attribute_values(":minus_one", n(-1)),
            None => update.update_expression("ADD #to :one"),
        };
        update.into_update()
    }

    async fn get_ticket_consistent(&self, org_id: &str, ticket_id: &str) -> Result<Option<Ticket>, StoreError> {
        self.get_item_consistent(ticket_pk(org_id, ticket_id), "TICKET")
            .await?
            .map(|item| ticket_from(org_id, item))
            .transpose()
    }

    /// A page of the organization's tickets, newest first, matching `filter`. Index pages are
    /// read until `limit` tickets match, so a page is full unless it is the last, or until
    /// [`MAX_INDEX_READS`] pages were read for a sparse filter: the page then ends early, with
    /// its cursor where the reading stopped.
    pub async fn list_tickets(
        &self,
        org_id: &str,
        filter: &TicketFilter,
        limit: usize,
        start: Option<Item>,
    ) -> Result<TicketPage, StoreError> {
        let query = ticket_query(self, org_id, filter).limit((limit as i32 + 1).max(INDEX_PAGE));
        let mut tickets = Vec::new();
        let mut start = start;
        // One more than asked tells whether another page exists.
        for _ in 0..MAX_INDEX_READS {
            let output = query
                .clone()
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(store_error)?;
            for item in output.items.unwrap_or_default() {
                let key = match filter.customer_email {
                    Some(_) => super::index2_key(&item),
                    None => super::index_key(&item),
                };
                tickets.push((key, ticket_from(org_id, item)?));
            }
            start = output.last_evaluated_key;
            if start.is_none() || tickets.len() > limit {
                break;
            }
        }
        let next = if tickets.len() > limit {
            tickets.truncate(limit);
            tickets.last().map(|(key, _)| key.clone())
        } else {
            // Stopped reading (or at the end): go on from where the index was left.
            start
        };
        Ok(TicketPage {
            tickets: tickets.into_iter().map(|(_, ticket)| ticket).collect(),
            next,
        })
    }

    /// Adds an entry to a ticket and applies its effect, unless the ticket is gone or closed
    /// (`false` then, nothing written).
    pub async fn add_entry(
        &self,
        ticket: &Ticket,
        entry: &Entry,
        effect: &EntryEffect<'_>,
    ) -> Result<bool, StoreError> {
        let mut sets = vec!["message_count = message_count + :one", "updated_at = :now"];
        let mut removals = Vec::new();
        let mut values = HashMap::from([
            (":one".to_string(), n(1)),
            (":now".to_string(), s(&entry.created_at)),
            (":closed".to_string(), s(Status::Closed.as_str())),
        ]);
        let mut condition = "attribute_exists(PK) AND #status <> :closed".to_string();
        let mut count = None;
        if let Some(status) = effect.status.filter(|status| *status != ticket.status) {
            sets.push("#status = :status");
            values.insert(":status".into(), s(status.as_str()));
            // The counts move only from the status the ticket still has.
            condition.push_str(" AND #status = :current");
            values.insert(":current".into(), s(ticket.status.as_str()));
            count = Some(self.status_count_write(&ticket.org_id, Some(ticket.status), status));
            // A reopened ticket is no longer solved.
            if status == Status::Open {
                removals.push("solved_at");
            }
        }
        if effect.first_response {
            sets.push("first_response_at = if_not_exists(first_response_at, :now)");
        }
        let update = self
            .update_item(ticket_pk(&ticket.org_id, &ticket.ticket_id), "TICKET")
            .update_expression(update_expression(&sets, &removals))
            .condition_expression(condition)
            .expression_attribute_names("#status", "status")
            .set_expression_attribute_values(Some(values));
        let mut writes = vec![update.into_update()];
        writes.extend(self.entry_writes(&ticket.org_id, entry)?);
        if let Some((token, secret)) = effect.csat {
            writes.push(self.csat_token_write(token, secret)?);
        }
        writes.extend(count);
        self.transact(writes).await
    }

    /// A ticket's thread, oldest first.
    pub async fn list_entries(&self, org_id: &str, ticket_id: &str) -> Result<Vec<Entry>, StoreError> {
        let items = query_all(self.query_prefix(ticket_pk(org_id, ticket_id), "ENTRY#")).await?;
        items.into_iter().map(entry_from).collect()
    }
}

/// The query behind a ticket list: the organization's index partition within the created
/// range, newest first, the other filters as a filter expression.
fn ticket_query(store: &Store, org_id: &str, filter: &TicketFilter) -> super::dynamodb::Operation {
    // `0` sorts before and `~` after every timestamp, so an open end is the partition's end.
    let from = filter.created_after.clone().unwrap_or_else(|| "0".into());
    let to = format!("{}~", filter.created_before.clone().unwrap_or_else(|| "~".into()));
    let mut conditions = Vec::new();
    let mut names = HashMap::new();
    let mut values: Vec<(String, AttributeValue)> = vec![(":from".to_string(), s(from)), (":to".to_string(), s(to))];
    let mut equal = |attribute: &str, value: &Option<String>| {
        if let Some(value) = value {
            names.insert(format!("#{attribute}"), attribute.to_string());
            values.push((format!(":{attribute}"), s(value)));
            conditions.push(format!("#{attribute} = :{attribute}"));
        }
    };
    equal("status", &filter.status);
    equal("priority", &filter.priority);
    equal("channel", &filter.channel);
    match &filter.assignee {
        Some(Some(assignee)) => equal("assignee", &Some(assignee.clone())),
        // An absent value is no attribute (see `entity_item`).
        Some(None) => conditions.push("attribute_not_exists(assignee)".into()),
        None => {}
    }
    if let Some(text) = &filter.text {
        values.push((":text".into(), s(text)));
        conditions.push(format!("contains({SEARCH}, :text)"));
    }
    if let Some(tag) = &filter.tag {
        values.push((":tag".into(), s(tag)));
        conditions.push("contains(tags, :tag)".into());
    }
    if let Some(after) = &filter.updated_after {
        values.push((":updated_after".into(), s(after)));
        conditions.push("updated_at >= :updated_after".into());
    }
    if let Some(before) = &filter.updated_before {
        values.push((":updated_before".into(), s(before)));
        conditions.push("updated_at <= :updated_before".into());
    }
    // A customer's tickets are a partition of their own: nobody else's are read.
    let query = match &filter.customer_email {
        Some(email) => {
            store.query_index2_where(customer_tickets_index_pk(org_id, email), "GSI2SK BETWEEN :from AND :to")
        }
        None => store.query_index_where(tickets_index_pk(org_id), "GSI1SK BETWEEN :from AND :to"),
    };
    let query = query
        .scan_index_forward(false)
        .set_filter_expression((!conditions.is_empty()).then(|| conditions.join(" AND ")))
        .set_expression_attribute_names((!names.is_empty()).then_some(names));
    values.into_iter().fold(query, |query, (name, value)| {
        query.expression_attribute_values(name, value)
    })
}

/// `SET a, b REMOVE c`, the removals left out when there are none.
fn update_expression<S: AsRef<str>, R: AsRef<str>>(sets: &[S], removals: &[R]) -> String {
    let sets: Vec<&str> = sets.iter().map(AsRef::as_ref).collect();
    let removals: Vec<&str> = removals.iter().map(AsRef::as_ref).collect();
    let mut expression = format!("SET {}", sets.join(", "));
    if !removals.is_empty() {
        expression.push_str(&format!(" REMOVE {}", removals.join(", ")));
    }
    expression
}
