//! Black-box tests: a real server on a loopback port, real SQLite and PostgreSQL, and the CLI.
//!
//! Each test in `both!` runs once on SQLite and once on PostgreSQL (when
//! `PORTOLAN_TEST_POSTGRES_URL` is set; otherwise the PostgreSQL half says so and passes).

mod fake_git;
mod fake_host;
mod fixtures;
mod helpers;
mod provisioner;

mod auth;
mod catalog_roles;
mod cli;
mod corpus;
mod delivery;
mod docs;
mod entities;
mod faults;
mod feed;
mod gateway_nginx;
mod hardening;
mod health;
mod instances;
mod locations;
mod offerings;
mod offerings_notifications;
mod offerings_roles;
mod portal;
mod providers;
mod queries;
mod scaffolder;
mod scaffolder_backstage;
mod scaffolder_publish;
mod scaffolder_tasks;
mod scaffolder_waits;
mod standards;
mod standards_builtin;
mod team_health;
mod trust_http;
mod trust_identity;
mod trust_net;
mod trust_offerings;
mod trust_query;
mod ui;
mod usage;
mod usage_fold;
mod usage_nats;
mod usage_roles;
mod usage_ship;
