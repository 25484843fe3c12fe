//! Usage intake from a NATS JetStream stream (`[usage] nats_url`): every instance pulls from one
//! shared durable consumer, so N instances split the messages between them. A message is one
//! batch with an id; the messages of one pull go through [`intake::record_batches`] together,
//! checked as an HTTP batch with an `Idempotency-Key` is, so their records and batch ids commit
//! in one transaction, and each message is acknowledged only after that commit. A message redelivered after a crash (or
//! after its ack was lost) finds its id recorded and counts nothing again.
//!
//! Runs on a thread of its own with a small tokio runtime, while the application lives; a lost
//! connection is retried with a growing pause. Without `nats_url` nothing here runs.

use std::sync::{Arc, Weak};
use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::{self, AckKind, consumer, stream};
use futures_util::StreamExt;
use serde::Deserialize;

use super::Usage;
use super::intake::{self, BatchId, Options, Parsed, Recorded};
use crate::db::Pool;

/// Messages asked for per pull request: the most recorded in one transaction.
const PULL: usize = 32;
/// How long one pull request waits for messages (the loop looks at `alive` in between).
const PULL_WAIT: Duration = Duration::from_secs(1);

/// The envelope form of a message: `{"id": "...", "events": [...]}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope<'a> {
    id: Option<String>,
    #[serde(borrow)]
    events: Vec<&'a serde_json::value::RawValue>,
}

/// A message read: its batch id and its events.
#[derive(Debug)]
pub struct Batch {
    pub id: String,
    pub events: Vec<Parsed>,
}

/// Reads a message body: the envelope `{"id", "events"}`, or a JSON array or NDJSON of events
/// whose id is the `Nats-Msg-Id` header, else the message's stream sequence (stable across
/// redeliveries). The id is recorded as `nats:<id>`, apart from HTTP idempotency keys.
pub fn read_message(body: &[u8], msg_id: Option<&str>, stream_seq: Option<u64>) -> Result<Batch, String> {
    let fallback = || match (msg_id.map(str::trim).filter(|s| !s.is_empty()), stream_seq) {
        (Some(id), _) => Ok(id.to_owned()),
        (None, Some(seq)) => Ok(format!("seq:{seq}")),
        (None, None) => Err("the message has no batch id (an \"id\", a Nats-Msg-Id header)".to_owned()),
    };
    let envelope = serde_json::from_slice::<Envelope>(body).ok();
    let (id, events) = match envelope {
        Some(e) => {
            if e.events.len() > super::MAX_EVENTS {
                return Err(format!("a batch holds at most {} events", super::MAX_EVENTS));
            }
            let id = match e.id.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()) {
                Some(id) => id,
                None => fallback()?,
            };
            let events = e
                .events
                .into_iter()
                .map(|v| serde_json::from_str(v.get()).map_err(|e| crate::error::plain_serde_message(&e.to_string())))
                .collect();
            (id, events)
        }
        None => {
            let events = intake::parse_body(body, true).map_err(|e| e.to_string())?;
            (fallback()?, events)
        }
    };
    if id.len() > 200 {
        return Err("the batch id is longer than 200 characters".into());
    }
    Ok(Batch { id: format!("nats:{id}"), events })
}

/// Starts the consumer thread when `usage.nats_url` is set.
pub(super) fn spawn(usage: Arc<Usage>, pool: Pool, alive: Weak<()>) {
    let Some(url) = usage.settings.nats_url.clone() else {
        return;
    };
    let started = std::thread::Builder::new().name("portolan-usage-nats".into()).spawn(move || {
        let runtime = match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(2)
            .thread_name("portolan-usage-nats")
            .enable_all()
            .build()
        {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error.cause = %e, "The NATS usage intake could not start its runtime.");
                return;
            }
        };
        runtime.block_on(async move {
            let mut pause = Duration::from_secs(1);
            while alive.upgrade().is_some() {
                match consume(&usage, &pool, &url, &alive).await {
                    Ok(()) => return,
                    Err(e) => {
                        tracing::warn!(
                            error.cause = format!("{e:#}"),
                            nats.url = %url,
                            retry_in_secs = pause.as_secs(),
                            "The NATS usage intake lost its connection; retrying."
                        );
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_secs(30));
                    }
                }
            }
        });
    });
    if let Err(e) = started {
        tracing::error!(error.cause = %e, "The NATS usage intake could not start its thread.");
    }
}

/// Connects, makes sure the stream and the durable consumer exist, and takes messages until the
/// application stops (`Ok`) or the connection fails (`Err`).
async fn consume(usage: &Arc<Usage>, pool: &Pool, url: &str, alive: &Weak<()>) -> anyhow::Result<()> {
    let s = &usage.settings;
    let client = async_nats::ConnectOptions::new()
        .name("portolan-usage")
        .connect(url)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    let js = jetstream::new(client);
    let stream = js
        .get_or_create_stream(stream::Config {
            name: s.nats_stream.clone(),
            subjects: vec![s.nats_subjects.clone()],
            ..Default::default()
        })
        .await
        .with_context(|| format!("opening the stream {}", s.nats_stream))?;
    let consumer: consumer::PullConsumer = stream
        .get_or_create_consumer(
            &s.nats_consumer,
            consumer::pull::Config {
                durable_name: Some(s.nats_consumer.clone()),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_secs_f64(s.nats_ack_wait_secs.max(1.0)),
                ..Default::default()
            },
        )
        .await
        .with_context(|| format!("opening the durable consumer {}", s.nats_consumer))?;
    tracing::info!(
        nats.stream = %s.nats_stream,
        nats.subjects = %s.nats_subjects,
        nats.consumer = %s.nats_consumer,
        "Taking usage batches from NATS JetStream."
    );
    while alive.upgrade().is_some() {
        let mut messages =
            consumer.fetch().max_messages(PULL).expires(PULL_WAIT).messages().await.context("asking for messages")?;
        let mut got = Vec::new();
        while let Some(message) = messages.next().await {
            got.push(message.map_err(|e| anyhow::anyhow!("receiving a message: {e}"))?);
        }
        if !got.is_empty() {
            take(usage, pool, got).await?;
        }
    }
    Ok(())
}

/// A message read, with what it is known by in the log.
struct Taken {
    message: jetstream::Message,
    subject: String,
    batch: Batch,
    body_hash: String,
}

/// The messages of one pull: each read (one that can never be read is terminated, not
/// redelivered), then all recorded in one transaction (every batch id with its records), then
/// each acknowledged after that commit. A failed commit hands them all back for redelivery.
async fn take(usage: &Arc<Usage>, pool: &Pool, messages: Vec<jetstream::Message>) -> anyhow::Result<()> {
    let mut taken = Vec::with_capacity(messages.len());
    for message in messages {
        let seq = message.info().ok().map(|i| i.stream_sequence);
        let msg_id = message.headers.as_ref().and_then(|h| h.get("Nats-Msg-Id")).map(|v| v.as_str().to_owned());
        let subject = message.subject.to_string();
        match read_message(&message.payload, msg_id.as_deref(), seq) {
            Ok(batch) => {
                let body_hash = intake::body_hash(&message.payload);
                taken.push(Taken { message, subject, batch, body_hash });
            }
            Err(reason) => {
                tracing::warn!(nats.subject = %subject, nats.seq = seq, reason, "A usage message could not be read; dropped.");
                message.ack_with(AckKind::Term).await.map_err(|e| anyhow::anyhow!("terminating a message: {e}"))?;
            }
        }
    }
    if taken.is_empty() {
        return Ok(());
    }
    let u = usage.clone();
    let p = pool.clone();
    let ids: Vec<(String, String)> = taken.iter().map(|t| (t.batch.id.clone(), t.body_hash.clone())).collect();
    let events: Vec<Vec<Parsed>> = taken.iter_mut().map(|t| std::mem::take(&mut t.batch.events)).collect();
    let recorded = tokio::task::spawn_blocking(move || {
        let batches: Vec<(Option<BatchId>, Vec<Parsed>)> = ids
            .iter()
            .zip(events)
            .map(|((id, hash), events)| (Some(BatchId { id, body_hash: hash }), events))
            .collect();
        intake::record_batches(&u, &p, batches, Options::default())
    })
    .await
    .context("the intake task")?;
    let outcomes = match recorded {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(
                error.cause = format!("{e:#}"),
                messages = taken.len(),
                "Recording usage batches failed; they will be redelivered."
            );
            for t in taken {
                t.message
                    .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                    .await
                    .map_err(|e| anyhow::anyhow!("handing a message back: {e}"))?;
            }
            return Ok(());
        }
    };
    for (t, outcome) in taken.into_iter().zip(outcomes) {
        match outcome {
            Recorded::Conflict => {
                tracing::warn!(
                    nats.subject = %t.subject,
                    batch.id = %t.batch.id,
                    "A usage message reuses the id of a batch with another body; dropped."
                );
                t.message.ack_with(AckKind::Term).await.map_err(|e| anyhow::anyhow!("terminating a message: {e}"))?;
            }
            Recorded::Counted(outcome) => {
                if let Some(first) = outcome.rejected.first() {
                    tracing::warn!(
                        nats.subject = %t.subject,
                        batch.id = %t.batch.id,
                        rejected = outcome.rejected.len(),
                        accepted = outcome.accepted,
                        first.index = first.index,
                        first.message = %first.message,
                        "Some events of a usage batch were rejected."
                    );
                }
                t.message.ack().await.map_err(|e| anyhow::anyhow!("acknowledging a message: {e}"))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_names_its_own_id() {
        let b = read_message(
            br#"{"id": "b-1", "events": [{"time": "2026-12-02T10:00:00Z", "api": "x", "consumer": "y"}]}"#,
            Some("h"),
            Some(3),
        )
        .unwrap();
        assert_eq!(b.id, "nats:b-1");
        assert_eq!(b.events.len(), 1);
        assert!(b.events[0].is_ok());
    }

    #[test]
    fn ndjson_takes_the_header_id_else_the_stream_sequence() {
        let body = b"{\"time\": \"2026-12-02T10:00:00Z\", \"api\": \"x\", \"consumer\": \"y\"}\n{\"bad\": 1}\n";
        let b = read_message(body, Some("h-7"), Some(3)).unwrap();
        assert_eq!(b.id, "nats:h-7");
        assert_eq!(b.events.len(), 2);
        assert!(b.events[1].is_err());
        assert_eq!(read_message(body, None, Some(3)).unwrap().id, "nats:seq:3");
    }

    #[test]
    fn an_unreadable_body_is_refused_with_a_reason() {
        let b = read_message(b"not json", None, Some(1)).unwrap();
        assert!(b.events[0].is_err(), "a line that is no event is one rejected event");
        assert!(read_message(b"[]", None, None).is_err(), "no id anywhere");
    }
}
