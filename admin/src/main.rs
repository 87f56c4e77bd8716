//! `hookgate-admin`: operator commands.
//!
//! ```text
//! hookgate-admin provision [--template template.yaml]   create the stack's resources (local emulator)
//! hookgate-admin bootstrap --org-name NAME [--rate-limit-per-minute N]
//!                                                       create an organization and its admin key
//! hookgate-admin connect-billing --org-id ID --account-id acct_... --secret whsec_...
//!                                                       Hookgate's Stripe account for an organization's plan
//! hookgate-admin poll-queue --queue-url URL --function NAME [--invoke-url http://127.0.0.1:9000]
//!                                                       feed a queue to a local function (SQS event source)
//! hookgate-admin activation-code create --code CODE --plan PLAN --trial-days N [--max-redemptions N] [--expires RFC3339]
//!                                                       a code that puts an organization on a plan for a trial
//! hookgate-admin schedule --function NAME [--every-seconds 60] [--invoke-url http://127.0.0.1:9000]
//!                                                       invoke a local function on a schedule (EventBridge)
//! hookgate-admin demo-runtime --queue-url URL [--api-url http://127.0.0.1:9000]
//!                                                       report on queued executions as a runtime would
//!                                                       (the key, with executions:report, in HOOKGATE_API_KEY)
//! ```
//! Every command that speaks to AWS reads the AWS environment variables as a function does
//! (`AWS_ENDPOINT_URL`, `AWS_REGION`, credentials; no profile);
//! `bootstrap` also `TABLE_NAME` and `PEPPER_SECRET_ID`, as the functions do, and
//! `connect-billing` those and `SIGNING_KEY_SECRET_ID`.

use std::path::PathBuf;
use std::process::ExitCode;

use admin::template::StackDefinition;
use shared::runtime::{Services, aws_config};

const USAGE: &str = "usage:
  hookgate-admin provision [--template template.yaml]
  hookgate-admin bootstrap --org-name NAME [--rate-limit-per-minute N]
  hookgate-admin connect-billing --org-id ID --account-id acct_... --secret whsec_...
  hookgate-admin poll-queue --queue-url URL --function NAME [--invoke-url http://127.0.0.1:9000]
  hookgate-admin activation-code create --code CODE --plan PLAN --trial-days N [--max-redemptions N] [--expires RFC3339]
  hookgate-admin schedule --function NAME [--every-seconds 60] [--invoke-url http://127.0.0.1:9000]
  hookgate-admin demo-runtime --queue-url URL [--api-url http://127.0.0.1:9000]  (key in HOOKGATE_API_KEY)";

fn option(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

async fn run(args: Vec<String>) -> Result<(), String> {
    // Read by the commands that speak to AWS only: `schedule` needs no credentials. Like a
    // function, this tool reads the AWS environment variables and no profile.
    let config = || {
        aws_config().map_err(|e| {
            format!(
                "{e}\nhookgate-admin reads its region and credentials from the environment (AWS_REGION, \
                 AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN); with a profile or SSO, \
                 export them first: eval \"$(aws configure export-credentials --format env)\""
            )
        })
    };
    match args.first().map(String::as_str) {
        Some("provision") => {
            let template = PathBuf::from(option(&args, "--template").unwrap_or_else(|| "template.yaml".into()));
            let stack = StackDefinition::load(&template)?;
            let done = admin::provision::provision(&config()?, &stack).await?;
            println!("tables:  {}", done.tables.join(", "));
            for (name, url) in &done.queue_urls {
                println!("queue:   {name} {url}");
            }
            for (name, arn) in &done.topic_arns {
                println!("topic:   {name} {arn}");
            }
            println!("secrets: {}", done.secrets.join(", "));
            println!("buckets: {}", done.buckets.join(", "));
            Ok(())
        }
        Some("bootstrap") => {
            let name = option(&args, "--org-name").ok_or(USAGE)?;
            let rate_limit = option(&args, "--rate-limit-per-minute")
                .map(|n| n.parse().map_err(|_| "--rate-limit-per-minute is a whole number"))
                .transpose()?;
            let services = Services::from_env(&config()?).await.map_err(|e| e.to_string())?;
            let done = admin::bootstrap::bootstrap(&services, &name, rate_limit).await?;
            println!(
                "organization: {} ({})",
                done.organization.name, done.organization.org_id
            );
            println!("admin key id: {}", done.key_id);
            println!("admin API key (shown once, keep it): {}", done.token);
            Ok(())
        }
        Some("connect-billing") => {
            let (org_id, account_id, secret) = (
                option(&args, "--org-id").ok_or(USAGE)?,
                option(&args, "--account-id").ok_or(USAGE)?,
                option(&args, "--secret").ok_or(USAGE)?,
            );
            let services = Services::from_env(&config()?).await.map_err(|e| e.to_string())?;
            let secrets = shared::runtime::secret_box(&config()?)
                .await
                .map_err(|e| e.to_string())?;
            let integration =
                admin::billing::connect_billing(&services.store, &secrets, &org_id, &account_id, &secret).await?;
            println!(
                "billing integration {} for {org_id}: POST /api/webhooks/stripe?account={account_id}",
                integration.integration_id
            );
            Ok(())
        }
        Some("poll-queue") => {
            let poller = admin::poller::Poller {
                queue_url: option(&args, "--queue-url").ok_or(USAGE)?,
                function: option(&args, "--function").ok_or(USAGE)?,
                invoke_url: option(&args, "--invoke-url").unwrap_or_else(|| "http://127.0.0.1:9000".into()),
            };
            poller.run(&config()?).await
        }
        Some("activation-code") if args.get(1).map(String::as_str) == Some("create") => {
            let services = Services::from_env(&config()?).await.map_err(|e| e.to_string())?;
            let code = admin::activation::create_code(
                &services,
                &admin::activation::CodeSpec {
                    code: option(&args, "--code").ok_or(USAGE)?,
                    plan: option(&args, "--plan").ok_or(USAGE)?,
                    trial_days: option(&args, "--trial-days").ok_or(USAGE)?,
                    max_redemptions: option(&args, "--max-redemptions"),
                    expires: option(&args, "--expires"),
                },
            )
            .await?;
            println!(
                "activation code {}: plan {} for {} days, {} redemptions, expires {}",
                code.code,
                code.plan,
                code.trial_days,
                code.max_redemptions.map_or("unlimited".to_string(), |n| n.to_string()),
                code.expires_at.as_deref().unwrap_or("never")
            );
            Ok(())
        }
        Some("schedule") => {
            let seconds: u64 = option(&args, "--every-seconds")
                .map(|n| n.parse().map_err(|_| "--every-seconds is a whole number"))
                .transpose()?
                .unwrap_or(60);
            let schedule = admin::schedule::Schedule {
                function: option(&args, "--function").ok_or(USAGE)?,
                every: std::time::Duration::from_secs(seconds.max(1)),
                invoke_url: option(&args, "--invoke-url").unwrap_or_else(|| "http://127.0.0.1:9000".into()),
            };
            schedule.run().await
        }
        Some("demo-runtime") => {
            let runtime = admin::demo_runtime::DemoRuntime {
                queue_url: option(&args, "--queue-url").ok_or(USAGE)?,
                api_url: option(&args, "--api-url").unwrap_or_else(|| "http://127.0.0.1:9000".into()),
                api_key: std::env::var("HOOKGATE_API_KEY").map_err(|_| "HOOKGATE_API_KEY is not set")?,
            };
            runtime.run(&config()?).await
        }
        _ => Err(USAGE.into()),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}
