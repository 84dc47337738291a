use super::*;

fn timing() -> Timing {
    Timing {
        conversation_ttl: Duration::from_secs(60),
        dedupe_ttl: Duration::from_secs(60),
        ticket_index_ttl: Duration::from_secs(600),
        send_reserve: Duration::from_secs(2),
        store_reserve: Duration::from_secs(1),
    }
}

#[test]
fn a_long_deadline_keeps_the_configured_reserves_for_sending_and_the_last_writes() {
    let now = Instant::now();
    let budget = timing().budget(now, now + Duration::from_secs(13));
    assert_eq!((budget.hard - budget.send, budget.send - budget.work), (Duration::from_secs(1), Duration::from_secs(2)));
}

#[test]
fn a_short_deadline_still_leaves_the_bot_half_of_it() {
    let now = Instant::now();
    let budget = timing().budget(now, now + Duration::from_secs(2));
    assert_eq!(budget.work - now, Duration::from_secs(1));
    assert!(budget.work < budget.send && budget.send < budget.hard);
}
