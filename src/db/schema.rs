//! Every table of the migrations (`migrations/sqlite`, `migrations/postgres`: the same tables
//! under the same names), as diesel sees them. Portable types only (Text, BigInt), so one schema
//! serves SQLite and PostgreSQL. Tables are grouped by the domain that owns them; only that
//! domain's store reads or writes them (docs/ARCHITECTURE.md, "Tables and SQL").
//!
//! One file rather than a `schema.rs` per store: `allow_tables_to_appear_in_same_query!` needs
//! every table in one list, `diesel print-schema` writes one file to compare against, and the
//! architecture test (`tests/architecture.rs`) checks this one file against the migrations.
//! Tables queried through raw SQL only are declared too, so the DSL is always available.

// The catalog (catalog/store/ only).

diesel::table! {
    locations (id) {
        id -> Text,
        #[sql_name = "type"]
        kind -> Text,
        target -> Text,
        origin -> Text,
        created_at -> BigInt,
        next_refresh_at -> BigInt,
        lease_owner -> Nullable<Text>,
        lease_expires_at -> Nullable<BigInt>,
        last_success_at -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
        last_error_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    entities (id) {
        id -> Text,
        entity_ref -> Text,
        kind -> Text,
        namespace -> Text,
        name -> Text,
        location_id -> Nullable<Text>,
        source -> Text,
        hash -> Text,
        etag -> Text,
        body -> Text,
        status -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        parent_ref -> Nullable<Text>,
        line -> Nullable<BigInt>,
    }
}

diesel::table! {
    relations (entity_id, source_key, kind, target_key) {
        entity_id -> Text,
        source_key -> Text,
        #[sql_name = "type"]
        kind -> Text,
        target_ref -> Text,
        target_key -> Text,
    }
}

diesel::table! {
    search (entity_id, key, value) {
        entity_id -> Text,
        key -> Text,
        value -> Text,
        original_value -> Nullable<Text>,
    }
}

diesel::table! {
    conflicts (entity_ref, location_id) {
        entity_ref -> Text,
        location_id -> Text,
        owner_location_id -> Nullable<Text>,
        source -> Text,
        first_seen_at -> BigInt,
        last_seen_at -> BigInt,
    }
}

diesel::table! {
    read_cache (location_id, url) {
        location_id -> Text,
        url -> Text,
        etag -> Text,
        nested -> Text,
        updated_at -> BigInt,
    }
}

diesel::table! {
    events (id) {
        id -> BigInt,
        #[sql_name = "type"]
        kind -> Text,
        entity_ref -> Text,
        at -> BigInt,
    }
}

diesel::table! {
    /// One cursor into the change feed per follower (`catalog::follow`).
    feed_cursors (name) {
        name -> Text,
        event_id -> BigInt,
    }
}

diesel::table! {
    catalog_version (id) {
        id -> Integer,
        generation -> BigInt,
    }
}

diesel::table! {
    /// SQLite only: the FTS5 trigram index of each entity's search values (keyed by the entities'
    /// rowid; raw SQL only, `MATCH` has no DSL). PostgreSQL has no such table.
    entity_text (rowid) {
        rowid -> BigInt,
        terms -> Text,
    }
}

diesel::joinable!(entities -> locations (location_id));

// Governance (governance/store.rs only).
diesel::table! {
    /// Governance findings: no natural key (an entity may have several findings of one rule).
    findings (entity_ref, rule, message) {
        entity_ref -> Text,
        rule -> Text,
        severity -> Text,
        message -> Text,
        details -> Text,
        source -> Nullable<Text>,
        line -> Nullable<BigInt>,
        owner -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::table! {
    portal_state (id) {
        id -> Integer,
        generation -> BigInt,
        event_id -> BigInt,
    }
}

// Discovery (discovery/store.rs only).
diesel::table! {
    providers (id) {
        id -> Text,
        #[sql_name = "type"]
        kind -> Text,
        next_run_at -> BigInt,
        lease_owner -> Nullable<Text>,
        lease_expires_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    provider_runs (id) {
        id -> Text,
        provider_id -> Text,
        cause -> Text,
        started_at -> BigInt,
        finished_at -> BigInt,
        status -> Text,
        repositories -> BigInt,
        locations_added -> BigInt,
        locations_removed -> BigInt,
        locations_refreshed -> BigInt,
        errors -> Text,
    }
}

diesel::table! {
    webhook_deliveries (source, delivery_id) {
        source -> Text,
        delivery_id -> Text,
        event -> Text,
        received_at -> BigInt,
    }
}

// Authentication (auth/store.rs only).
diesel::table! {
    service_tokens (id) {
        id -> Text,
        name -> Text,
        token_hash -> Text,
        scopes -> Text,
        created_by -> Text,
        created_at -> BigInt,
        expires_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    revoked_sessions (sid) {
        sid -> Text,
        revoked_at -> BigInt,
        expires_at -> BigInt,
    }
}

// Infrastructure (db/instances.rs only).
diesel::table! {
    instances (id) {
        id -> Text,
        started_at -> BigInt,
        heartbeat_at -> BigInt,
    }
}

// Offerings (offerings/store/ only).
diesel::table! {
    offerings (api) {
        api -> Text,
        platform -> Text,
        description -> Nullable<Text>,
        plans -> Text,
        updated_at -> BigInt,
    }
}

diesel::table! {
    subscriptions (id) {
        id -> Text,
        api -> Text,
        plan -> Text,
        consumer -> Text,
        team -> Nullable<Text>,
        status -> Text,
        origin -> Text,
        live_key -> Nullable<Text>,
        closes_at -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    subscription_events (id) {
        id -> BigInt,
        subscription_id -> Text,
        #[sql_name = "type"]
        kind -> Text,
        from_status -> Nullable<Text>,
        to_status -> Nullable<Text>,
        key_id -> Nullable<Text>,
        plan -> Nullable<Text>,
        by_who -> Text,
        reason -> Nullable<Text>,
        at -> BigInt,
        /// The body of an announcement (a row with no subscription), JSON.
        payload -> Nullable<Text>,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Text,
        subscription_id -> Text,
        name -> Nullable<Text>,
        prefix -> Text,
        key_hash -> Text,
        created_by -> Text,
        created_at -> BigInt,
        expires_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
        rotated_to -> Nullable<Text>,
        expiring_noticed -> BigInt,
        expired_noticed -> BigInt,
    }
}

diesel::table! {
    gateway_counters (scope, kind, window_start) {
        scope -> Text,
        kind -> Text,
        window_start -> BigInt,
        count -> BigInt,
    }
}

diesel::table! {
    gateway_usage (subscription_id, minute) {
        subscription_id -> Text,
        minute -> BigInt,
        calls -> BigInt,
    }
}

diesel::table! {
    offerings_state (id) {
        id -> Integer,
        cursor -> BigInt,
        audit_seq -> BigInt,
        feed_cursor -> BigInt,
    }
}

diesel::table! {
    webhook_targets (id) {
        id -> Text,
        url -> Text,
        cursor -> BigInt,
        next_attempt_at -> BigInt,
        attempts -> BigInt,
        last_error -> Nullable<Text>,
        lease_owner -> Nullable<Text>,
        lease_expires_at -> Nullable<BigInt>,
    }
}

// The usage domain (usage/store/ only).
macro_rules! usage_level {
    ($name:ident) => {
        diesel::table! {
            $name (api, consumer, subscription, t) {
                api -> Text,
                consumer -> Text,
                subscription -> Text,
                t -> BigInt,
                calls -> BigInt,
                errors -> BigInt,
                hist -> Binary,
            }
        }
    };
}
usage_level!(usage_minutes);
usage_level!(usage_hours);
usage_level!(usage_days);
usage_level!(usage_weeks);

diesel::table! {
    usage_records (id) {
        id -> BigInt,
        part -> Integer,
        at -> BigInt,
        events -> BigInt,
        body -> Binary,
    }
}

diesel::table! {
    usage_fold_parts (part) {
        part -> Integer,
        folded_at -> BigInt,
    }
}

diesel::table! {
    usage_pairs (api, consumer) {
        api -> Text,
        consumer -> Text,
        first_seen -> BigInt,
        last_seen -> BigInt,
    }
}

diesel::table! {
    usage_batches (id) {
        id -> Text,
        at -> BigInt,
        accepted -> BigInt,
        rejected -> Text,
        body_hash -> Nullable<Text>,
    }
}

diesel::table! {
    usage_kpis (product, kpi, t) {
        product -> Text,
        kpi -> Text,
        t -> BigInt,
        value -> Double,
        recorded_at -> BigInt,
    }
}

diesel::table! {
    usage_state (id) {
        id -> Integer,
        seq -> BigInt,
        pairs_version -> BigInt,
        weeks_built -> BigInt,
    }
}

// The delivery office (delivery/store.rs only).
diesel::table! {
    plan_updates (id) {
        id -> BigInt,
        entity_ref -> Text,
        item_id -> Text,
        health -> Text,
        note -> Text,
        progress -> Nullable<Integer>,
        author -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    value_reports (period) {
        period -> Text,
        generated_at -> BigInt,
        body -> Text,
    }
}

// Standards as code (standards/store.rs only).
diesel::table! {
    scorecard_results (scorecard_ref, entity_ref) {
        scorecard_ref -> Text,
        entity_ref -> Text,
        owner_ref -> Nullable<Text>,
        level -> Nullable<Text>,
        score -> Double,
        checks -> Text,
        evaluated_at -> BigInt,
    }
}

diesel::table! {
    scorecard_versions (scorecard_ref) {
        scorecard_ref -> Text,
        body_hash -> Text,
        evaluated_at -> BigInt,
    }
}

diesel::table! {
    scaffolder_tasks (id) {
        id -> Text,
        spec -> Text,
        status -> Text,
        created_by -> Nullable<Text>,
        created_at -> BigInt,
        last_heartbeat_at -> Nullable<BigInt>,
        template_dir -> Nullable<Text>,
        secrets -> Nullable<Text>,
        cancel_requested -> Integer,
        due_at -> BigInt,
        lease_owner -> Nullable<Text>,
        lease_expires_at -> Nullable<BigInt>,
        gate -> Nullable<Text>,
        decision -> Nullable<Text>,
        checkpoint -> Nullable<Text>,
        template_ref -> Nullable<Text>,
    }
}

diesel::table! {
    scaffolder_task_events (id) {
        id -> BigInt,
        task_id -> Text,
        event_type -> Text,
        body -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    standards_state (id) {
        id -> Integer,
        generation -> BigInt,
    }
}

diesel::table! {
    scorecard_days (scorecard_ref, day) {
        scorecard_ref -> Text,
        day -> Text,
        entities -> Integer,
        unranked -> Integer,
        levels -> Text,
        checks -> Text,
    }
}

diesel::table! {
    entity_scores (scorecard_ref, day, entity_ref) {
        scorecard_ref -> Text,
        day -> Text,
        entity_ref -> Text,
        level -> Nullable<Text>,
        score -> Double,
    }
}

diesel::table! {
    campaign_days (campaign_ref, day) {
        campaign_ref -> Text,
        day -> Text,
        in_scope -> Integer,
        done -> Integer,
    }
}

// Team health (health/store.rs only).
diesel::table! {
    deployments (seq) {
        seq -> BigInt,
        id -> Text,
        entity_ref -> Text,
        environment -> Text,
        tier -> Text,
        status -> Text,
        started_at -> Nullable<BigInt>,
        finished_at -> Nullable<BigInt>,
        commit_sha -> Text,
        version -> Nullable<Text>,
        repo_url -> Nullable<Text>,
        rollback_of -> Nullable<Text>,
        source -> Text,
        received_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    deployment_changes (deployment_seq, sha) {
        deployment_seq -> BigInt,
        sha -> Text,
        committed_at -> BigInt,
        pr_created_at -> Nullable<BigInt>,
        merged_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    incidents (id) {
        id -> Text,
        entity_ref -> Text,
        severity -> Nullable<Text>,
        title -> Nullable<Text>,
        created_at -> BigInt,
        resolved_at -> Nullable<BigInt>,
        caused_by -> Nullable<Text>,
        source -> Text,
        received_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    change_leads (entity_ref, sha) {
        entity_ref -> Text,
        sha -> Text,
        deployed_at -> BigInt,
        committed_at -> BigInt,
        deployment_id -> Text,
    }
}

diesel::table! {
    deployment_weeks (entity_ref, week) {
        entity_ref -> Text,
        week -> BigInt,
        days -> Binary,
        leads -> Binary,
        first_finished -> BigInt,
        first_version -> Nullable<Text>,
        last_id -> Text,
        last_finished -> BigInt,
        last_version -> Nullable<Text>,
        marks -> Nullable<Text>,
    }
}

diesel::joinable!(deployment_changes -> deployments (deployment_seq));

diesel::allow_tables_to_appear_in_same_query!(
    locations,
    entities,
    relations,
    search,
    conflicts,
    read_cache,
    events,
    catalog_version,
    feed_cursors,
    entity_text,
    findings,
    portal_state,
    providers,
    provider_runs,
    webhook_deliveries,
    service_tokens,
    revoked_sessions,
    instances,
    offerings,
    subscriptions,
    subscription_events,
    api_keys,
    gateway_counters,
    gateway_usage,
    offerings_state,
    webhook_targets,
    usage_minutes,
    usage_hours,
    usage_days,
    usage_pairs,
    usage_batches,
    usage_kpis,
    usage_state,
    usage_weeks,
    usage_records,
    usage_fold_parts,
    plan_updates,
    value_reports,
    deployments,
    deployment_changes,
    change_leads,
    deployment_weeks,
    incidents,
    scorecard_results,
    scorecard_versions,
    standards_state,
    scaffolder_tasks,
    scaffolder_task_events,
    scorecard_days,
    entity_scores,
    campaign_days,
);
