//! The stateful resources of `template.yaml`: table, queues, topics, secrets, buckets.
//!
//! Locally each resource is named after its logical id (CloudFormation generates names in
//! AWS), which is what the functions' local environment in Cargo.toml refers to.

use std::path::Path;

use serde_norway::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct KeyElement {
    pub attribute: String,
    /// `HASH` or `RANGE`.
    pub key_type: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IndexDefinition {
    pub name: String,
    pub key_schema: Vec<KeyElement>,
    pub projection: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TableDefinition {
    pub name: String,
    /// (attribute name, type)
    pub attributes: Vec<(String, String)>,
    pub key_schema: Vec<KeyElement>,
    pub indexes: Vec<IndexDefinition>,
    pub ttl_attribute: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Redrive {
    /// Logical id of the dead-letter queue.
    pub dead_letter_queue: String,
    pub max_receive_count: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct QueueDefinition {
    pub name: String,
    pub visibility_timeout: Option<u32>,
    pub message_retention_period: Option<u32>,
    pub redrive: Option<Redrive>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct StackDefinition {
    pub tables: Vec<TableDefinition>,
    pub queues: Vec<QueueDefinition>,
    pub topics: Vec<String>,
    pub secrets: Vec<String>,
    /// Logical ids of the S3 buckets; locally each is named in lower case (see [`bucket_name`]).
    pub buckets: Vec<String>,
}

/// A bucket's local name: its logical id in lower case, as S3 bucket names must be.
pub fn bucket_name(logical_id: &str) -> String {
    logical_id.to_lowercase()
}

type Result<T> = std::result::Result<T, String>;

fn field<'a>(value: &'a Value, name: &str, context: &str) -> Result<&'a Value> {
    value.get(name).ok_or_else(|| format!("{context}: {name} is missing"))
}

fn string(value: &Value, name: &str, context: &str) -> Result<String> {
    field(value, name, context)?
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("{context}: {name} is not a string"))
}

fn number(value: &Value, name: &str, context: &str) -> Result<Option<u32>> {
    match value.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .map(|n| Some(n as u32))
            .ok_or_else(|| format!("{context}: {name} is not a number")),
    }
}

fn sequence<'a>(value: &'a Value, name: &str, context: &str) -> Result<&'a Vec<Value>> {
    field(value, name, context)?
        .as_sequence()
        .ok_or_else(|| format!("{context}: {name} is not a list"))
}

fn key_schema(value: &Value, context: &str) -> Result<Vec<KeyElement>> {
    sequence(value, "KeySchema", context)?
        .iter()
        .map(|element| {
            Ok(KeyElement {
                attribute: string(element, "AttributeName", context)?,
                key_type: string(element, "KeyType", context)?,
            })
        })
        .collect()
}

/// The logical id in `!GetAtt Id.Arn` (short or long form).
fn get_att_target(value: &Value) -> Option<String> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "GetAtt" => tagged
            .value
            .as_str()
            .and_then(|s| s.split('.').next())
            .map(str::to_string),
        Value::Mapping(map) => map
            .get("Fn::GetAtt")
            .and_then(|v| v.as_sequence())
            .and_then(|parts| parts.first())
            .and_then(|v| v.as_str())
            .map(str::to_string),
        _ => None,
    }
}

impl StackDefinition {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Self> {
        let document: Value = serde_norway::from_str(text).map_err(|e| format!("template is not YAML: {e}"))?;
        let resources = document
            .get("Resources")
            .and_then(Value::as_mapping)
            .ok_or("template has no Resources")?;
        let mut stack = StackDefinition::default();
        for (id, resource) in resources {
            let id = id.as_str().ok_or("a resource id is not a string")?.to_string();
            let kind = resource.get("Type").and_then(Value::as_str).unwrap_or_default();
            let empty = Value::Mapping(Default::default());
            let properties = resource.get("Properties").unwrap_or(&empty);
            match kind {
                "AWS::DynamoDB::Table" => stack.tables.push(table(&id, properties)?),
                "AWS::SQS::Queue" => stack.queues.push(queue(&id, properties)?),
                "AWS::SNS::Topic" => stack.topics.push(id),
                "AWS::SecretsManager::Secret" => stack.secrets.push(id),
                "AWS::S3::Bucket" => stack.buckets.push(id),
                _ => {}
            }
        }
        Ok(stack)
    }

    pub fn table(&self, name: &str) -> Option<&TableDefinition> {
        self.tables.iter().find(|t| t.name == name)
    }

    pub fn queue(&self, name: &str) -> Option<&QueueDefinition> {
        self.queues.iter().find(|q| q.name == name)
    }
}

fn table(id: &str, properties: &Value) -> Result<TableDefinition> {
    let attributes = sequence(properties, "AttributeDefinitions", id)?
        .iter()
        .map(|a| Ok((string(a, "AttributeName", id)?, string(a, "AttributeType", id)?)))
        .collect::<Result<Vec<_>>>()?;
    let indexes = match properties.get("GlobalSecondaryIndexes") {
        None => Vec::new(),
        Some(_) => sequence(properties, "GlobalSecondaryIndexes", id)?
            .iter()
            .map(|index| {
                Ok(IndexDefinition {
                    name: string(index, "IndexName", id)?,
                    key_schema: key_schema(index, id)?,
                    projection: string(field(index, "Projection", id)?, "ProjectionType", id)?,
                })
            })
            .collect::<Result<Vec<_>>>()?,
    };
    let ttl_attribute = match properties.get("TimeToLiveSpecification") {
        Some(spec) if spec.get("Enabled").and_then(Value::as_bool) == Some(true) => {
            Some(string(spec, "AttributeName", id)?)
        }
        _ => None,
    };
    Ok(TableDefinition {
        name: id.to_string(),
        attributes,
        key_schema: key_schema(properties, id)?,
        indexes,
        ttl_attribute,
    })
}

fn queue(id: &str, properties: &Value) -> Result<QueueDefinition> {
    let redrive = match properties.get("RedrivePolicy") {
        None => None,
        Some(policy) => Some(Redrive {
            dead_letter_queue: get_att_target(field(policy, "deadLetterTargetArn", id)?)
                .ok_or_else(|| format!("{id}: deadLetterTargetArn must be !GetAtt <Queue>.Arn"))?,
            max_receive_count: number(policy, "maxReceiveCount", id)?
                .ok_or_else(|| format!("{id}: maxReceiveCount is missing"))?,
        }),
    };
    Ok(QueueDefinition {
        name: id.to_string(),
        visibility_timeout: number(properties, "VisibilityTimeout", id)?,
        message_retention_period: number(properties, "MessageRetentionPeriod", id)?,
        redrive,
    })
}
