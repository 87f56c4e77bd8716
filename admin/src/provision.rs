//! Creates the stack's stateful resources from [`StackDefinition`] against the configured AWS
//! endpoint: the local emulator for `make dev` and the tests. Idempotent: what exists is kept.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;

use crate::template::{KeyElement, StackDefinition, TableDefinition};

/// Names and addresses of what was provisioned.
#[derive(Debug, Default)]
pub struct Provisioned {
    pub tables: Vec<String>,
    pub queue_urls: BTreeMap<String, String>,
    pub topic_arns: BTreeMap<String, String>,
    pub secrets: Vec<String>,
    pub buckets: Vec<String>,
}

fn error(what: &str, e: impl std::error::Error) -> String {
    format!("{what}: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e))
}

fn key_schema(elements: &[KeyElement]) -> Result<Vec<KeySchemaElement>, String> {
    elements
        .iter()
        .map(|e| {
            KeySchemaElement::builder()
                .attribute_name(&e.attribute)
                .key_type(KeyType::from(e.key_type.as_str()))
                .build()
                .map_err(|e| e.to_string())
        })
        .collect()
}

async fn create_table(client: &aws_sdk_dynamodb::Client, table: &TableDefinition) -> Result<(), String> {
    let mut request = client
        .create_table()
        .table_name(&table.name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(key_schema(&table.key_schema)?));
    for (name, kind) in &table.attributes {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::from(kind.as_str()))
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    for index in &table.indexes {
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(&index.name)
                .set_key_schema(Some(key_schema(&index.key_schema)?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(index.projection.as_str()))
                        .build(),
                )
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    match request.send().await {
        Ok(_) => {}
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => return Ok(()),
        Err(e) => return Err(error(&format!("creating table {}", table.name), e)),
    }
    if let Some(attribute) = &table.ttl_attribute {
        client
            .update_time_to_live()
            .table_name(&table.name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(attribute)
                    .enabled(true)
                    .build()
                    .map_err(|e| e.to_string())?,
            )
            .send()
            .await
            .map_err(|e| error(&format!("enabling TTL on {}", table.name), e))?;
    }
    Ok(())
}

pub async fn provision(config: &SdkConfig, stack: &StackDefinition) -> Result<Provisioned, String> {
    let mut done = Provisioned::default();
    let dynamodb = aws_sdk_dynamodb::Client::new(config);
    for table in &stack.tables {
        create_table(&dynamodb, table).await?;
        done.tables.push(table.name.clone());
    }

    // Dead-letter queues first: a queue's redrive policy names its DLQ's ARN.
    let sqs = aws_sdk_sqs::Client::new(config);
    let mut queues: Vec<_> = stack.queues.iter().collect();
    queues.sort_by_key(|q| q.redrive.is_some());
    let mut arns = BTreeMap::new();
    for queue in queues {
        let mut request = sqs.create_queue().queue_name(&queue.name);
        if let Some(seconds) = queue.visibility_timeout {
            request = request.attributes(QueueAttributeName::VisibilityTimeout, seconds.to_string());
        }
        if let Some(seconds) = queue.message_retention_period {
            request = request.attributes(QueueAttributeName::MessageRetentionPeriod, seconds.to_string());
        }
        if let Some(redrive) = &queue.redrive {
            let target: &String = arns.get(&redrive.dead_letter_queue).ok_or_else(|| {
                format!(
                    "{}: dead-letter queue {} is not defined",
                    queue.name, redrive.dead_letter_queue
                )
            })?;
            let policy =
                serde_json::json!({ "deadLetterTargetArn": target, "maxReceiveCount": redrive.max_receive_count });
            request = request.attributes(QueueAttributeName::RedrivePolicy, policy.to_string());
        }
        let url = request
            .send()
            .await
            .map_err(|e| error(&format!("creating queue {}", queue.name), e))?
            .queue_url
            .unwrap_or_default();
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| error(&format!("reading queue {}", queue.name), e))?;
        let arn = attributes
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
            .cloned()
            .unwrap_or_default();
        arns.insert(queue.name.clone(), arn);
        done.queue_urls.insert(queue.name.clone(), url);
    }

    let sns = aws_sdk_sns::Client::new(config);
    for topic in &stack.topics {
        let output = sns
            .create_topic()
            .name(topic)
            .send()
            .await
            .map_err(|e| error(&format!("creating topic {topic}"), e))?;
        done.topic_arns
            .insert(topic.clone(), output.topic_arn.unwrap_or_default());
    }

    let secrets = aws_sdk_secretsmanager::Client::new(config);
    for secret in &stack.secrets {
        let created = secrets
            .create_secret()
            .name(secret)
            .secret_string(shared::ids::random_base32(64))
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_exists_exception()) => {}
            Err(e) => return Err(error(&format!("creating secret {secret}"), e)),
        }
        done.secrets.push(secret.clone());
    }

    let s3 = aws_sdk_s3::Client::new(config);
    for bucket in &stack.buckets {
        let name = crate::template::bucket_name(bucket);
        let created = s3.create_bucket().bucket(&name).send().await;
        match created {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_bucket_already_owned_by_you() || s.is_bucket_already_exists()) => {}
            Err(e) => return Err(error(&format!("creating bucket {name}"), e)),
        }
        done.buckets.push(name);
    }
    Ok(done)
}
