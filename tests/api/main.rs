//! Integration tests: the real router over real databases. One binary, as compile time matters.

mod common;
mod metrics;
mod process;
mod proxying;
mod testca;

mod acme;
mod auth;
mod certificates;
mod compose;
mod csr_create;
mod csr_lifecycle;
mod csr_list;
mod csr_validation;
mod db_faults;
mod edge;
mod edge_proxy;
mod fallback_origin;
mod hostnames;
mod key_pool;
mod limits;
mod list_memory;
mod observability;
mod observability_binary;
mod openapi;
mod operations;
mod pytest_example;
mod quotas;
mod rate_limit;
mod request_limits;
mod startup;
mod test_controls;
mod tokens;
mod upgrade;
mod upload_limits;
