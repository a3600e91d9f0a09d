//! The Sentinel rate budget serves write-backs people wait for before comments before tags, and
//! tags yield: they may spend only the first fifth of a window and never wait for a slot (issue
//! #16: under a burst, acknowledges and closes waited up to 5 minutes behind tag PUTs), and
//! enrichment reads leave a fifth of the read window to the Poller.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actors::ports::{with_priority, WritePriority};
use sentinel_signl4::http::budget::{BudgetLimits, CallClass, SubscriptionBudget};

fn budget(limit: u32, window: Duration) -> Arc<SubscriptionBudget> {
    Arc::new(SubscriptionBudget::new(BudgetLimits {
        incident_writes: limit,
        comment_writes: limit,
        reads: limit,
        window,
    }))
}

/// Starts `n` calls of `priority` on the budget; each appends its label when admitted.
fn start(
    budget: &Arc<SubscriptionBudget>,
    order: &Arc<Mutex<Vec<char>>>,
    priority: WritePriority,
    label: char,
    n: usize,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..n)
        .map(|_| {
            let (budget, order) = (budget.clone(), order.clone());
            tokio::spawn(with_priority(priority, async move {
                budget.acquire(CallClass::IncidentWrite).await.unwrap();
                order.lock().unwrap().push(label);
            }))
        })
        .collect()
}

/// Tries one background call: `true` when admitted, `false` when it was told to come back.
async fn tag(budget: &SubscriptionBudget) -> bool {
    with_priority(WritePriority::Background, async {
        budget.acquire(CallClass::IncidentWrite).await.is_ok()
    })
    .await
}

#[tokio::test]
async fn tags_spend_a_fifth_of_the_window_and_never_wait() {
    let budget = budget(10, Duration::from_secs(300));
    // A burst of ten tags: two go through, eight are told to come back later, at once.
    let mut admitted = 0;
    for _ in 0..10 {
        admitted += usize::from(tag(&budget).await);
    }
    assert_eq!(admitted, 2);
    let deferred = with_priority(WritePriority::Background, async {
        budget.acquire(CallClass::IncidentWrite).await
    })
    .await;
    let retry_after = deferred.expect_err("a background call beyond its share is deferred");
    assert!(retry_after > Duration::from_secs(200), "{retry_after:?}");
    // The other eight slots of the window are the write-backs' and comments', at once.
    for _ in 0..4 {
        assert!(budget
            .acquire(CallClass::IncidentWrite)
            .await
            .unwrap()
            .is_zero());
    }
    for _ in 0..4 {
        let waited = with_priority(WritePriority::Comment, async {
            budget.acquire(CallClass::IncidentWrite).await
        })
        .await;
        assert!(waited.unwrap().is_zero());
    }
    // Other lanes are independent: a tag's read still fits.
    let read = with_priority(WritePriority::Background, async {
        budget.acquire(CallClass::Read).await
    })
    .await;
    assert!(read.is_ok());
}

#[tokio::test]
async fn a_tag_is_not_admitted_once_write_backs_spent_its_fifth() {
    let budget = budget(10, Duration::from_secs(300));
    for _ in 0..2 {
        budget.acquire(CallClass::IncidentWrite).await.unwrap();
    }
    assert!(!tag(&budget).await, "the window's first fifth is spent");
}

#[tokio::test]
async fn waiting_write_backs_go_before_comments() {
    let budget = budget(5, Duration::from_millis(200));
    let order = Arc::new(Mutex::new(Vec::new()));
    // Fill the window, then queue comments and write-backs behind it.
    for _ in 0..5 {
        budget.acquire(CallClass::IncidentWrite).await.unwrap();
    }
    let mut tasks = start(&budget, &order, WritePriority::Comment, 'C', 3);
    tokio::task::yield_now().await;
    tasks.extend(start(&budget, &order, WritePriority::Human, 'H', 3));
    for task in tasks {
        task.await.unwrap();
    }
    let order: String = order.lock().unwrap().iter().collect();
    assert_eq!(order, "HHHCCC", "write-backs first: {order}");
}

/// A burst to enrich spends at most four fifths of the read window: the Poller's listings
/// (people's reads) still find a slot at once, while enrichment waits for the window to slide.
#[tokio::test]
async fn enrichment_reads_leave_a_fifth_of_the_window_to_the_poller() {
    let budget = budget(10, Duration::from_secs(300));
    for _ in 0..8 {
        let waited = with_priority(WritePriority::Comment, async {
            budget.acquire(CallClass::Read).await
        })
        .await;
        assert!(waited.unwrap().is_zero());
    }
    // The ninth enrichment read waits for the window (a long one: it is still waiting when the
    // listings below are admitted).
    let waiting = tokio::spawn({
        let budget = budget.clone();
        with_priority(WritePriority::Comment, async move {
            budget.acquire(CallClass::Read).await
        })
    });
    tokio::task::yield_now().await;
    for _ in 0..2 {
        let listed = budget.acquire(CallClass::Read).await;
        assert!(listed.unwrap().is_zero(), "a listing is admitted at once");
    }
    assert!(!waiting.is_finished(), "enrichment waits for the window");
    waiting.abort();
    // The write lanes keep no such share: comments may spend a whole comment window.
    for _ in 0..10 {
        let waited = with_priority(WritePriority::Comment, async {
            budget.acquire(CallClass::CommentWrite).await
        })
        .await;
        assert!(waited.unwrap().is_zero());
    }
}
