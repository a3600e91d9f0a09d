//! The Sentinel rate budget serves write-backs people wait for before comments before tags: a
//! burst of tag writes never makes an acknowledge or a close wait behind it (issue #16: under a
//! burst, acknowledges and closes waited up to 5 minutes behind tag PUTs).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actors::ports::{with_priority, WritePriority};
use sentinel_signl4::http::budget::{BudgetLimits, CallClass, SubscriptionBudget};

fn budget(limit: u32) -> Arc<SubscriptionBudget> {
    Arc::new(SubscriptionBudget::new(BudgetLimits {
        incident_writes: limit,
        comment_writes: limit,
        reads: limit,
        window: Duration::from_millis(200),
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
                budget.acquire(CallClass::IncidentWrite).await;
                order.lock().unwrap().push(label);
            }))
        })
        .collect()
}

#[tokio::test]
async fn write_backs_overtake_a_burst_of_tags() {
    let budget = budget(5);
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = start(&budget, &order, WritePriority::Background, 'T', 10);
    // The tags that fit are admitted at once; a fifth of the window stays free for write-backs.
    while order.lock().unwrap().len() < 4 {
        tokio::task::yield_now().await;
    }
    tasks.extend(start(&budget, &order, WritePriority::Human, 'H', 3));
    while !order.lock().unwrap().contains(&'H') {
        tokio::task::yield_now().await;
    }
    tasks.extend(start(&budget, &order, WritePriority::Comment, 'C', 2));
    for task in tasks {
        task.await.unwrap();
    }
    let order: String = order.lock().unwrap().iter().collect();
    assert!(order.starts_with("TTTT"), "{order}");
    let rest = &order[4..];
    let last_human = rest.rfind('H').unwrap();
    let first_comment = rest.find('C').unwrap();
    let last_comment = rest.rfind('C').unwrap();
    let first_tag = rest.find('T').unwrap();
    assert!(last_human < first_comment, "write-backs first: {order}");
    assert!(
        last_comment < first_tag,
        "comments before the waiting tags: {order}"
    );
    assert_eq!(
        order.matches('T').count(),
        10,
        "every tag went through: {order}"
    );
}

#[tokio::test]
async fn alone_each_priority_uses_its_share_of_the_window() {
    let budget = budget(5);
    let order = Arc::new(Mutex::new(Vec::new()));
    // Without any scope a call is a write-back: the whole window.
    for _ in 0..5 {
        assert!(budget.acquire(CallClass::Read).await.is_zero());
    }
    let tags = start(&budget, &order, WritePriority::Background, 'T', 4);
    for task in tags {
        task.await.unwrap();
    }
    assert_eq!(order.lock().unwrap().len(), 4);
}
