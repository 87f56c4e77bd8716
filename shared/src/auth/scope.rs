//! What an API key may do. A key carries a set of scopes; each route requires one.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum Scope {
    /// Push orders, customers, products and events through `POST /api/webhook`.
    #[serde(rename = "webhook:write")]
    WebhookWrite,
    /// Read the agent context (`GET /api/context/...`).
    #[serde(rename = "context:read")]
    ContextRead,
    /// Create, list and revoke API keys.
    #[serde(rename = "keys:manage")]
    KeysManage,
    /// Manage outbound webhook endpoints, send tests, recover and redrive deliveries.
    #[serde(rename = "endpoints:manage")]
    EndpointsManage,
    /// Read outbound webhook endpoints, their logs and statistics.
    #[serde(rename = "endpoints:read")]
    EndpointsRead,
    /// Connect and disconnect provider accounts (Shopify, Stripe, Amazon) and read their
    /// data-request reports.
    #[serde(rename = "integrations:manage")]
    IntegrationsManage,
    /// Read support tickets and their conversations.
    #[serde(rename = "tickets:read")]
    TicketsRead,
    /// Open and change tickets, reply and add internal notes.
    #[serde(rename = "tickets:write")]
    TicketsWrite,
    /// Read customers with their tickets, orders and CSAT.
    #[serde(rename = "customers:read")]
    CustomersRead,
    /// Create and change customers.
    #[serde(rename = "customers:write")]
    CustomersWrite,
    /// Create, change and delete SLA policies (reading them needs `tickets:read`).
    #[serde(rename = "sla:manage")]
    SlaManage,
    /// Configure the website widget (`/api/v1/widget`).
    #[serde(rename = "widget:manage")]
    WidgetManage,
    /// Act for the organization's account: redeem activation codes.
    #[serde(rename = "account:manage")]
    AccountManage,
    /// Create, list and delete the tokens that trigger agents and workflows
    /// (`/api/v1/triggers`).
    #[serde(rename = "triggers:manage")]
    TriggersManage,
    /// Read agent and workflow executions.
    #[serde(rename = "executions:read")]
    ExecutionsRead,
    /// Report an execution's progress (the agent and workflow runtime); includes reading.
    #[serde(rename = "executions:report")]
    ExecutionsReport,
    /// Read orders awaiting or done with call confirmation (`/api/v1/orders`).
    #[serde(rename = "orders:read")]
    OrdersRead,
    /// Create, change and delete orders to confirm by call.
    #[serde(rename = "orders:write")]
    OrdersWrite,
    /// Report the outcome of a confirmation call (the voice agent).
    #[serde(rename = "orders:report")]
    OrdersReport,
}

impl Scope {
    pub const ALL: [Scope; 19] = [
        Scope::WebhookWrite,
        Scope::ContextRead,
        Scope::KeysManage,
        Scope::EndpointsManage,
        Scope::EndpointsRead,
        Scope::IntegrationsManage,
        Scope::TicketsRead,
        Scope::TicketsWrite,
        Scope::CustomersRead,
        Scope::CustomersWrite,
        Scope::SlaManage,
        Scope::WidgetManage,
        Scope::AccountManage,
        Scope::TriggersManage,
        Scope::ExecutionsRead,
        Scope::ExecutionsReport,
        Scope::OrdersRead,
        Scope::OrdersWrite,
        Scope::OrdersReport,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::WebhookWrite => "webhook:write",
            Scope::ContextRead => "context:read",
            Scope::KeysManage => "keys:manage",
            Scope::EndpointsManage => "endpoints:manage",
            Scope::EndpointsRead => "endpoints:read",
            Scope::IntegrationsManage => "integrations:manage",
            Scope::TicketsRead => "tickets:read",
            Scope::TicketsWrite => "tickets:write",
            Scope::CustomersRead => "customers:read",
            Scope::CustomersWrite => "customers:write",
            Scope::SlaManage => "sla:manage",
            Scope::WidgetManage => "widget:manage",
            Scope::AccountManage => "account:manage",
            Scope::TriggersManage => "triggers:manage",
            Scope::ExecutionsRead => "executions:read",
            Scope::ExecutionsReport => "executions:report",
            Scope::OrdersRead => "orders:read",
            Scope::OrdersWrite => "orders:write",
            Scope::OrdersReport => "orders:report",
        }
    }

    /// Scopes that grant this one too: managing endpoints includes reading them.
    pub fn granted_by(self) -> &'static [Scope] {
        match self {
            Scope::EndpointsRead => &[Scope::EndpointsRead, Scope::EndpointsManage],
            Scope::WebhookWrite => &[Scope::WebhookWrite],
            Scope::ContextRead => &[Scope::ContextRead],
            Scope::KeysManage => &[Scope::KeysManage],
            Scope::EndpointsManage => &[Scope::EndpointsManage],
            Scope::IntegrationsManage => &[Scope::IntegrationsManage],
            Scope::TicketsRead => &[Scope::TicketsRead, Scope::TicketsWrite],
            Scope::TicketsWrite => &[Scope::TicketsWrite],
            Scope::CustomersRead => &[Scope::CustomersRead, Scope::CustomersWrite],
            Scope::CustomersWrite => &[Scope::CustomersWrite],
            Scope::SlaManage => &[Scope::SlaManage],
            Scope::WidgetManage => &[Scope::WidgetManage],
            Scope::AccountManage => &[Scope::AccountManage],
            Scope::TriggersManage => &[Scope::TriggersManage],
            Scope::ExecutionsRead => &[Scope::ExecutionsRead, Scope::ExecutionsReport],
            Scope::ExecutionsReport => &[Scope::ExecutionsReport],
            Scope::OrdersRead => &[Scope::OrdersRead, Scope::OrdersWrite],
            Scope::OrdersWrite => &[Scope::OrdersWrite],
            Scope::OrdersReport => &[Scope::OrdersReport],
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scope_round_trips_through_its_name_and_serde() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
            let json = serde_json::to_string(&scope).unwrap();
            assert_eq!(json, format!("\"{}\"", scope.as_str()));
        }
        assert_eq!(Scope::parse("webhook:read"), None);
        assert_eq!(Scope::parse(""), None);
    }
}
