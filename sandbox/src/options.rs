//! Knobs of the sandbox: token lifetime, ARM throttling buckets, the quirks the reference documents
//! as uncertain (docs/reference/signl4-api.md §7), outbound-webhook retry policy and HTTP worker counts.
//!
//! Invariant: the defaults are the real services' documented (or best known) behaviour; tests
//! shrink the time-based ones (TTL, windows, backoff) to stay fast.

use std::time::Duration;

/// Everything `Sandbox::start` needs; `Default` gives realistic values.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// Lifetime of issued access tokens (`expires_in`); Entra uses ~3599 s.
    pub token_ttl: Duration,
    /// ARM/Sentinel per-subscription throttling.
    pub throttle: ThrottleLimits,
    /// Log Analytics: concurrent queries per principal and workspace before 429 (docs: 5).
    pub la_max_concurrent: usize,
    /// Sentinel quirks.
    pub sentinel: SentinelQuirks,
    /// SIGNL4 behaviour where the public docs are silent.
    pub signl4: Signl4Options,
    /// Entra `error` value for AADSTS90002 (older token-endpoint observations say
    /// `invalid_request`, discovery says `invalid_tenant`).
    pub tenant_not_found_error: String,
    /// actix-web workers per emulator (1 is plenty for tests; the bench uses 2).
    pub workers: usize,
    /// Maximum number of request-log entries kept (oldest dropped first).
    pub request_log_capacity: usize,
    /// Serve every emulator over HTTPS with this identity (`sandbox --tls`); `None`: plain HTTP.
    pub tls: Option<super::tls::TlsIdentity>,
    /// Graph `/security` (alerts_v2 and incidents): requests per sliding minute per app per
    /// tenant (Graph's throttling page: about 150).
    pub graph_security_per_minute: u32,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            token_ttl: Duration::from_secs(3599),
            throttle: ThrottleLimits::default(),
            la_max_concurrent: 5,
            sentinel: SentinelQuirks::default(),
            signl4: Signl4Options::default(),
            tenant_not_found_error: "invalid_request".into(),
            workers: 1,
            request_log_capacity: 10_000,
            tls: None,
            graph_security_per_minute: 150,
        }
    }
}

/// One ARM token bucket: `size` requests at once, refilled at `per_second` (fractions kept).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// Tokens when full (a burst of this many requests passes).
    pub size: u32,
    /// Tokens added per second, up to `size`.
    pub per_second: f64,
}

impl Bucket {
    /// A bucket no test traffic empties.
    pub fn unlimited() -> Bucket {
        Bucket {
            size: u32::MAX,
            per_second: f64::from(u32::MAX),
        }
    }
}

/// ARM throttling as documented since 2024 (docs/reference/azure-apis.md §2.10): a token bucket per
/// subscription, per service principal and per operation type (reads 250 refilled at 25/s,
/// writes and deletes 200 at 10/s). Sentinel's own resource-provider limits are unpublished, so
/// nothing tighter applies to incidents. Not emulated: the per-region split and the
/// subscription-wide limit of 15 times the per-principal one.
#[derive(Debug, Clone, PartialEq)]
pub struct ThrottleLimits {
    /// GETs and the POST list actions (alerts, entities, bookmarks).
    pub reads: Bucket,
    /// PUTs (incidents and comments).
    pub writes: Bucket,
    /// DELETEs.
    pub deletes: Bucket,
}

impl Default for ThrottleLimits {
    fn default() -> Self {
        ThrottleLimits {
            reads: Bucket {
                size: 250,
                per_second: 25.0,
            },
            writes: Bucket {
                size: 200,
                per_second: 10.0,
            },
            deletes: Bucket {
                size: 200,
                per_second: 10.0,
            },
        }
    }
}

impl ThrottleLimits {
    /// Buckets no test traffic empties (tests that are not about throttling).
    pub fn unlimited() -> ThrottleLimits {
        ThrottleLimits {
            reads: Bucket::unlimited(),
            writes: Bucket::unlimited(),
            deletes: Bucket::unlimited(),
        }
    }
}

/// Observed Sentinel service quirks, each switchable.
#[derive(Debug, Clone)]
pub struct SentinelQuirks {
    /// `properties/classification eq 'Undetermined'` returns nothing (azure-rest-api-specs#27165).
    pub classification_undetermined_empty: bool,
    /// `nextLink` keeps literal spaces from `$filter`/`$orderby` (Cortex XSOAR note).
    pub nextlink_literal_spaces: bool,
    /// Default `$top` when the client sends none (observed 50).
    pub default_page_size: usize,
    /// Incidents render every owner field, unset ones as explicit `null`
    /// (`"owner": {"objectId": null, "email": null, ...}`), as real responses and independent
    /// emulators do although the 2025-12-01 schema types them as strings. A client that writes
    /// back what it read must drop those nulls; off, an unset field is simply absent.
    pub owner_nulls: bool,
}

impl Default for SentinelQuirks {
    fn default() -> Self {
        SentinelQuirks {
            classification_undetermined_empty: true,
            nextlink_literal_spaces: true,
            default_page_size: 50,
            owner_nulls: true,
        }
    }
}

/// SIGNL4 choices for the open questions of docs/reference/signl4-api.md §7.
#[derive(Debug, Clone)]
pub struct Signl4Options {
    /// A second `new` with an ExternalID that is still open creates a second Signl (`false`) or
    /// returns the open one (`true`).
    pub dedupe_external_id: bool,
    /// `POST /api/v2/alerts/paged` answers 204 when nothing matches (v1 behaviour) instead of 200
    /// with empty `results`.
    pub paged_empty_204: bool,
    /// Outbound webhooks fire for changes made through the inbound webhook and the REST API too,
    /// not only for simulated app users (the loop risk the connector must handle).
    pub outbound_for_api_changes: bool,
    /// REST acknowledge/close without `uid`/`userId` is 400 (the v2 docs mark it required).
    pub require_uid: bool,
    /// Delivery attempts per outbound webhook (first try included).
    pub outbound_max_attempts: u32,
    /// Backoff before the second attempt; doubles each time.
    pub outbound_backoff: Duration,
    /// Timeout of one outbound POST.
    pub outbound_timeout: Duration,
}

impl Default for Signl4Options {
    fn default() -> Self {
        Signl4Options {
            dedupe_external_id: false,
            paged_empty_204: true,
            outbound_for_api_changes: true,
            require_uid: false,
            outbound_max_attempts: 5,
            outbound_backoff: Duration::from_millis(500),
            outbound_timeout: Duration::from_secs(5),
        }
    }
}

impl SandboxOptions {
    /// For tests: 60 s tokens, 20 ms outbound backoff, and ARM's buckets at 10× (2500 reads
    /// refilled at 250/s, 2000 writes and deletes at 100/s), so a chatty pipeline test is not
    /// throttled by accident; throttling tests set their own buckets.
    pub fn for_tests() -> Self {
        let mut o = SandboxOptions {
            token_ttl: Duration::from_secs(60),
            throttle: ThrottleLimits {
                reads: Bucket {
                    size: 2500,
                    per_second: 250.0,
                },
                writes: Bucket {
                    size: 2000,
                    per_second: 100.0,
                },
                deletes: Bucket {
                    size: 2000,
                    per_second: 100.0,
                },
            },
            // 10x, like the ARM budgets above.
            graph_security_per_minute: 1500,
            ..Default::default()
        };
        o.signl4.outbound_backoff = Duration::from_millis(20);
        o.signl4.outbound_timeout = Duration::from_secs(2);
        o
    }
}
