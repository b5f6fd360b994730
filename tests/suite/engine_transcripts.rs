//! Transcript tests of the payment engine: one script of inputs per case, the full list of
//! outputs compared against a snapshot. Simulated time only (no sleeps).
//!
//! Update snapshots with `UPDATE_EXPECT=1 cargo test --test suite engine_transcripts::`, then read
//! the diff: each transcript is the specification of one behaviour.

use crate::engine_support;

use engine_support::*;
use expect_test::{expect, Expect};
use scanpay::engine::{ArmRefusal, Engine, EnginePolicy, Timestamp};
use scanpay::protocol::Fen;

fn check(script: &[Step], expected: Expect) {
    expected.assert_eq(&transcript(script));
}

#[test]
fn immediate_success() {
    check(
        &[Arm(1250), Scan(WECHAT), Reply(paid())],
        expect![[r#"
        [   0.000] start
                   show Ready
        [   0.000] arm ¥12.50
                   -> ok POS1-20261125-000001
                   journal #1 armed pays=0 queries=0
                   report #1 armed
                   show Armed { amount: Fen(1250), subject: "Coffee" }
        [   0.000] scan 1345…2101
                   journal #1 submitting code=1345…2101 pays=1 queries=0
                   report #1 submitting
                   show Processing { amount: Fen(1250) }
                   send pay #1 POS1-20261125-000001 code=1345…2101 ¥12.50 Some(WeChat)
                   (next timeout 60.000)
        [   0.000] pay reply #1 10000 SUCCESS TRADE_SUCCESS
                   journal #1 paid pays=1 queries=0
                   report #1 paid trade_no=2026112522001400001234
                   show Paid { amount: Fen(1250), payway: Some(WeChat), trade_no_tail: "001234" }
    "#]],
    );
}

#[test]
fn userpaying_then_success_at_first_query() {
    check(
        &[
            Arm(1250),
            Advance(3_000),
            Scan(WECHAT),
            Advance(400),
            Reply(userpaying()),
            Wait,
            Reply(paid()),
        ],
        expect![[r#"
            [   0.000] start
                       show Ready
            [   0.000] arm ¥12.50
                       -> ok POS1-20261125-000001
                       journal #1 armed pays=0 queries=0
                       report #1 armed
                       show Armed { amount: Fen(1250), subject: "Coffee" }
            [   3.000] (advanced 3.000 s)
            [   3.000] scan 1345…2101
                       journal #1 submitting code=1345…2101 pays=1 queries=0
                       report #1 submitting
                       show Processing { amount: Fen(1250) }
                       send pay #1 POS1-20261125-000001 code=1345…2101 ¥12.50 Some(WeChat)
                       (next timeout 63.000)
            [   3.400] (advanced 0.400 s)
                       (next timeout 63.000)
            [   3.400] pay reply #1 40004 USERPAYING -
                       journal #1 waiting_customer pays=1 queries=0 next_poll=5.400
                       report #1 waiting_customer
                       show WaitingCustomer { amount: Fen(1250), seconds_left: 59 }
                       (next timeout 5.400)
            [   5.400] timeout
                       send query #1
                       (next timeout 63.000)
            [   5.400] query reply #1 10000 SUCCESS TRADE_SUCCESS
                       journal #1 paid pays=1 queries=1
                       report #1 paid trade_no=2026112522001400001234
                       show Paid { amount: Fen(1250), payway: Some(WeChat), trade_no_tail: "001234" }
        "#]],
    );
}

#[test]
fn userpaying_then_success_after_several_queries() {
    check(
        &[
            Arm(1250),
            Scan(ALIPAY),
            Reply(userpaying()),
            Wait,
            Reply(waiting()),
            Wait,
            Reply(userpaying()),
            Wait,
            Reply(not_found()),
            Wait,
            Reply(paid()),
        ],
        expect![[r#"
            [   0.000] start
                       show Ready
            [   0.000] arm ¥12.50
                       -> ok POS1-20261125-000001
                       journal #1 armed pays=0 queries=0
                       report #1 armed
                       show Armed { amount: Fen(1250), subject: "Coffee" }
            [   0.000] scan 2845…2101
                       journal #1 submitting code=2845…2101 pays=1 queries=0
                       report #1 submitting
                       show Processing { amount: Fen(1250) }
                       send pay #1 POS1-20261125-000001 code=2845…2101 ¥12.50 Some(Alipay)
                       (next timeout 60.000)
            [   0.000] pay reply #1 40004 USERPAYING -
                       journal #1 waiting_customer pays=1 queries=0 next_poll=2.000
                       report #1 waiting_customer
                       show WaitingCustomer { amount: Fen(1250), seconds_left: 60 }
                       (next timeout 2.000)
            [   2.000] timeout
                       send query #1
                       (next timeout 60.000)
            [   2.000] query reply #1 10000 - WAIT_BUYER_PAY
                       show WaitingCustomer { amount: Fen(1250), seconds_left: 58 }
                       (next timeout 5.000)
            [   5.000] timeout
                       send query #1
                       (next timeout 60.000)
            [   5.000] query reply #1 40004 USERPAYING -
                       show WaitingCustomer { amount: Fen(1250), seconds_left: 55 }
                       (next timeout 8.000)
            [   8.000] timeout
                       send query #1
                       (next timeout 60.000)
            [   8.000] query reply #1 40004 ORDER_NOTFOUND -
                       (next timeout 11.000)
            [  11.000] timeout
                       send query #1
                       (next timeout 60.000)
            [  11.000] query reply #1 10000 SUCCESS TRADE_SUCCESS
                       journal #1 paid pays=1 queries=4
                       report #1 paid trade_no=2026112522001400001234
                       show Paid { amount: Fen(1250), payway: Some(Alipay), trade_no_tail: "001234" }
        "#]],
    );
}

#[test]
fn success_by_notify_while_waiting() {
    check(
        &[
            Arm(1250),
            Scan(WECHAT),
            Reply(userpaying()),
            Advance(1_000),
            Notify(paid()),
            Wait,
        ],
        expect![[r#"
            [   0.000] start
                       show Ready
            [   0.000] arm ¥12.50
                       -> ok POS1-20261125-000001
                       journal #1 armed pays=0 queries=0
                       report #1 armed
                       show Armed { amount: Fen(1250), subject: "Coffee" }
            [   0.000] scan 1345…2101
                       journal #1 submitting code=1345…2101 pays=1 queries=0
                       report #1 submitting
                       show Processing { amount: Fen(1250) }
                       send pay #1 POS1-20261125-000001 code=1345…2101 ¥12.50 Some(WeChat)
                       (next timeout 60.000)
            [   0.000] pay reply #1 40004 USERPAYING -
                       journal #1 waiting_customer pays=1 queries=0 next_poll=2.000
                       report #1 waiting_customer
                       show WaitingCustomer { amount: Fen(1250), seconds_left: 60 }
                       (next timeout 2.000)
            [   1.000] (advanced 1.000 s)
                       (next timeout 2.000)
            [   1.000] notify #1 10000 SUCCESS TRADE_SUCCESS
                       journal #1 paid pays=1 queries=0
                       report #1 paid trade_no=2026112522001400001234
                       show Paid { amount: Fen(1250), payway: Some(WeChat), trade_no_tail: "001234" }
            [   1.000] wait: nothing scheduled
        "#]],
    );
}

#[test]
fn userpaying_until_the_deadline_then_late_success() {
    let mut script = vec![Arm(1250), Scan(WECHAT), Reply(userpaying())];
    // Queries at 2 s, then every 3 s: the customer never confirms before the deadline.
    for _ in 0..20 {
        script.push(Wait);
        script.push(Reply(waiting()));
    }
    script.extend([
        // Past the deadline (60 s): unresolved, the counter is free for the next customer.
        Wait,
        Arm(800),
        // Background check 30 s later: still waiting; the next one finds it paid.
        Wait,
        Reply(waiting()),
        Wait,
        Reply(paid()),
    ]);
    check(
        &script,
        expect![[r#"
        [   0.000] start
                   show Ready
        [   0.000] arm ¥12.50
                   -> ok POS1-20261125-000001
                   journal #1 armed pays=0 queries=0
                   report #1 armed
                   show Armed { amount: Fen(1250), subject: "Coffee" }
        [   0.000] scan 1345…2101
                   journal #1 submitting code=1345…2101 pays=1 queries=0
                   report #1 submitting
                   show Processing { amount: Fen(1250) }
                   send pay #1 POS1-20261125-000001 code=1345…2101 ¥12.50 Some(WeChat)
                   (next timeout 60.000)
        [   0.000] pay reply #1 40004 USERPAYING -
                   journal #1 waiting_customer pays=1 queries=0 next_poll=2.000
                   report #1 waiting_customer
                   show WaitingCustomer { amount: Fen(1250), seconds_left: 60 }
                   (next timeout 2.000)
        [   2.000] timeout
                   send query #1
                   (next timeout 60.000)
        [   2.000] query reply #1 10000 - WAIT_BUYER_PAY
                   show WaitingCustomer { amount: Fen(1250), seconds_left: 58 }
                   (next timeout 5.000)
        [   5.000] timeout
                   send query #1
                   (next timeout 60.000)
        [   5.000] query reply #1 10000 - WAIT_BUYER_PAY
                   show WaitingCustomer { amount: Fen(1250), seconds_left: 55 }
                   (next timeout 8.000)
        [   8.000] timeout
                   send query #1
                   (next timeout 60.000)
        [   8.000] query reply #1 10000 - WAIT_BUYER_PAY
                   show WaitingCustomer { amount: Fen(1250), seconds_left: 52 }
                   (next timeout 11.000)
        [  11.000] timeout
                   send query #1
                   (next timeout 60.000)
        [  11.000] query reply #1 10000 - WAIT_BUYER_PAY
                   show WaitingCustomer { amount: Fen(1250), seconds_left: 49 }
                   (next timeout 14.000)
        [  14.000] timeout
                   send query #1
                   (next timeout 60.000)
        [  14.000] query reply #1 10000 - WAIT_BUYER_PAY
                   show WaitingCustomer { amount: Fen(1250), seconds_left: 46 }
                   (next timeout 17.000)
        [  17.000] timeout
                   send query #1
                   (next timeout 60.000)
        [  17.000] query reply #1 10000 - WAIT_BUYER_PAY
                   show WaitingCustomer { amount: Fen(1250), seconds_left: 43 }
                   (next timeout 20.000)
        [  20.000] timeout
                   send query #1
                   (next timeout 60.000)
        [  20.000] query reply #1 10000 - WAIT_BUYER_PAY
                   show WaitingCustomer { amount: Fen(1250), seconds_left: 40 }
                   (next timeout 23.000)
        [  23.000] timeout
                   send query #1
                   (next timeout 60.000)
        [  23.000] query reply #1 10000 - WAIT_BUYER_PAY
                   show WaitingCustomer { amount: Fen(1250), seconds_left: 37 }
                   (next timeout 26.000)
        [  26.000] timeout
                   send query #1
                   (next timeout 60.000)
        [  26.000] query reply #1 10000 - WAIT_BUYER_PAY
                   show WaitingCustomer { amount: Fen(1250), seconds_left: 34 }
                   (next timeout 29.000)
        [  29.000] timeout
                   send query #1
                   (next timeout 60.000)
        [  29.000] query reply #1 10000 - WAIT_BUYER_PAY
                   show WaitingCustomer { amount: Fen(1250), seconds_left: 31 }
                   (next timeout 32.000)
        [  32.000] timeout
                   send query #1
                   (next timeout 60.000)
        [  32.000] query reply #1 10000 - WAIT_BUYER_PAY
                   show WaitingCustomer { amount: Fen(1250), seconds_left: 28 }
                   (next timeout 35.000)
        [  35.000] timeout
                   send query #1
                   (next timeout 60.000)
        [  35.000] query reply #1 10000 - WAIT_BUYER_PAY
                   show WaitingCustomer { amount: Fen(1250), seconds_left: 25 }
                   (next timeout 38.000)
        [  38.000] timeout
                   send query #1
                   (next timeout 60.000)
        [  38.000] query reply #1 10000 - WAIT_BUYER_PAY
                   show WaitingCustomer { amount: Fen(1250), seconds_left: 22 }
                   (next timeout 41.000)
        [  41.000] timeout
                   send query #1
                   (next timeout 60.000)
        [  41.000] query reply #1 10000 - WAIT_BUYER_PAY
                   show WaitingCustomer { amount: Fen(1250), seconds_left: 19 }
                   (next timeout 44.000)
        [  44.000] timeout
                   send query #1
                   (next timeout 60.000)
        [  44.000] query reply #1 10000 - WAIT_BUYER_PAY
                   show WaitingCustomer { amount: Fen(1250), seconds_left: 16 }
                   (next timeout 47.000)
        [  47.000] timeout
                   send query #1
                   (next timeout 60.000)
        [  47.000] query reply #1 10000 - WAIT_BUYER_PAY
                   show WaitingCustomer { amount: Fen(1250), seconds_left: 13 }
                   (next timeout 50.000)
        [  50.000] timeout
                   send query #1
                   (next timeout 60.000)
        [  50.000] query reply #1 10000 - WAIT_BUYER_PAY
                   show WaitingCustomer { amount: Fen(1250), seconds_left: 10 }
                   (next timeout 53.000)
        [  53.000] timeout
                   send query #1
                   (next timeout 60.000)
        [  53.000] query reply #1 10000 - WAIT_BUYER_PAY
                   show WaitingCustomer { amount: Fen(1250), seconds_left: 7 }
                   (next timeout 56.000)
        [  56.000] timeout
                   send query #1
                   (next timeout 60.000)
        [  56.000] query reply #1 10000 - WAIT_BUYER_PAY
                   show WaitingCustomer { amount: Fen(1250), seconds_left: 4 }
                   (next timeout 59.000)
        [  59.000] timeout
                   send query #1
                   (next timeout 60.000)
        [  59.000] query reply #1 10000 - WAIT_BUYER_PAY
                   show WaitingCustomer { amount: Fen(1250), seconds_left: 1 }
                   (next timeout 60.000)
        [  60.000] timeout
                   journal #1 unresolved (deferred) pays=1 queries=20 next_poll=90.000
                   report #1 unresolved
                   show Checking { amount: Fen(1250) }
                   (next timeout 90.000)
        [  60.000] arm ¥8.00
                   -> ok POS1-20261125-000002
                   journal #2 armed pays=0 queries=0
                   report #2 armed
                   show Armed { amount: Fen(800), subject: "Coffee" }
                   (next timeout 90.000)
        [  90.000] timeout
                   send query #1
        [  90.000] query reply #1 10000 - WAIT_BUYER_PAY
                   (next timeout 120.000)
        [ 120.000] timeout
                   send query #1
        [ 120.000] query reply #1 10000 SUCCESS TRADE_SUCCESS
                   journal #1 paid pays=1 queries=22
                   report #1 paid trade_no=2026112522001400001234
    "#]],
    );
}

#[test]
fn decline() {
    check(
        &[Arm(1250), Scan(WECHAT), Reply(insufficient()), Arm(300)],
        expect![[r#"
            [   0.000] start
                       show Ready
            [   0.000] arm ¥12.50
                       -> ok POS1-20261125-000001
                       journal #1 armed pays=0 queries=0
                       report #1 armed
                       show Armed { amount: Fen(1250), subject: "Coffee" }
            [   0.000] scan 1345…2101
                       journal #1 submitting code=1345…2101 pays=1 queries=0
                       report #1 submitting
                       show Processing { amount: Fen(1250) }
                       send pay #1 POS1-20261125-000001 code=1345…2101 ¥12.50 Some(WeChat)
                       (next timeout 60.000)
            [   0.000] pay reply #1 40004 INSUFFICIENT TRADE_FAIL
                       journal #1 failed pays=1 queries=0
                       report #1 failed err=INSUFFICIENT des="balance too low"
                       show Failed { amount: Fen(1250), err_code: Some("INSUFFICIENT"), reason: "balance too low" }
            [   0.000] arm ¥3.00
                       -> ok POS1-20261125-000002
                       journal #2 armed pays=0 queries=0
                       report #2 armed
                       show Armed { amount: Fen(300), subject: "Coffee" }
        "#]],
    );
}

#[test]
fn frequently_doubles_the_interval_up_to_the_cap() {
    check(
        &[
            Arm(1250),
            Scan(WECHAT),
            Reply(userpaying()),
            Wait,
            Reply(frequently()),
            Wait,
            Reply(frequently()),
            Wait,
            Reply(frequently()),
            Wait,
            Reply(frequently()),
            Wait,
            // A normal answer brings the interval back to 3 s.
            Reply(waiting()),
            Wait,
            Reply(paid()),
        ],
        expect![[r#"
            [   0.000] start
                       show Ready
            [   0.000] arm ¥12.50
                       -> ok POS1-20261125-000001
                       journal #1 armed pays=0 queries=0
                       report #1 armed
                       show Armed { amount: Fen(1250), subject: "Coffee" }
            [   0.000] scan 1345…2101
                       journal #1 submitting code=1345…2101 pays=1 queries=0
                       report #1 submitting
                       show Processing { amount: Fen(1250) }
                       send pay #1 POS1-20261125-000001 code=1345…2101 ¥12.50 Some(WeChat)
                       (next timeout 60.000)
            [   0.000] pay reply #1 40004 USERPAYING -
                       journal #1 waiting_customer pays=1 queries=0 next_poll=2.000
                       report #1 waiting_customer
                       show WaitingCustomer { amount: Fen(1250), seconds_left: 60 }
                       (next timeout 2.000)
            [   2.000] timeout
                       send query #1
                       (next timeout 60.000)
            [   2.000] query reply #1 40004 FREQUENTLY -
                       (next timeout 8.000)
            [   8.000] timeout
                       send query #1
                       (next timeout 60.000)
            [   8.000] query reply #1 40004 FREQUENTLY -
                       (next timeout 20.000)
            [  20.000] timeout
                       send query #1
                       (next timeout 60.000)
            [  20.000] query reply #1 40004 FREQUENTLY -
                       (next timeout 35.000)
            [  35.000] timeout
                       send query #1
                       (next timeout 60.000)
            [  35.000] query reply #1 40004 FREQUENTLY -
                       (next timeout 50.000)
            [  50.000] timeout
                       send query #1
                       (next timeout 60.000)
            [  50.000] query reply #1 10000 - WAIT_BUYER_PAY
                       show WaitingCustomer { amount: Fen(1250), seconds_left: 10 }
                       (next timeout 53.000)
            [  53.000] timeout
                       send query #1
                       (next timeout 60.000)
            [  53.000] query reply #1 10000 SUCCESS TRADE_SUCCESS
                       journal #1 paid pays=1 queries=6 note="FREQUENTLY"
                       report #1 paid trade_no=2026112522001400001234
                       show Paid { amount: Fen(1250), payway: Some(WeChat), trade_no_tail: "001234" }
        "#]],
    );
}

#[test]
fn offline_before_sending_queues_then_drains() {
    check(
        &[
            Arm(1250),
            Scan(WECHAT),
            // The request never left: queued, with the same number and code.
            Reply(Answer::Offline),
            // One probe after 5 s: still offline.
            Wait,
            Reply(Answer::Offline),
            Advance(2_000),
            // The daemon learns the gateway is back: the queued pay goes at once.
            Reachable,
            Reply(paid()),
        ],
        expect![[r#"
            [   0.000] start
                       show Ready
            [   0.000] arm ¥12.50
                       -> ok POS1-20261125-000001
                       journal #1 armed pays=0 queries=0
                       report #1 armed
                       show Armed { amount: Fen(1250), subject: "Coffee" }
            [   0.000] scan 1345…2101
                       journal #1 submitting code=1345…2101 pays=1 queries=0
                       report #1 submitting
                       show Processing { amount: Fen(1250) }
                       send pay #1 POS1-20261125-000001 code=1345…2101 ¥12.50 Some(WeChat)
                       (next timeout 60.000)
            [   0.000] pay reply #1 Offline
                       journal #1 queued code=1345…2101 pays=1 queries=0 note="gateway unreachable, queued: connection refused"
                       report #1 queued
                       show Offline { amount: Fen(1250), queue_depth: 1 }
                       (next timeout 5.000)
            [   5.000] timeout
                       journal #1 submitting code=1345…2101 pays=2 queries=0 note="gateway unreachable, queued: connection refused"
                       report #1 submitting
                       show Processing { amount: Fen(1250) }
                       send pay #1 POS1-20261125-000001 code=1345…2101 ¥12.50 Some(WeChat)
                       (next timeout 60.000)
            [   5.000] pay reply #1 Offline
                       journal #1 queued code=1345…2101 pays=2 queries=0 note="gateway unreachable, queued: connection refused"
                       report #1 queued
                       show Offline { amount: Fen(1250), queue_depth: 1 }
                       (next timeout 10.000)
            [   7.000] (advanced 2.000 s)
                       (next timeout 10.000)
            [   7.000] gateway reachable
                       journal #1 submitting code=1345…2101 pays=3 queries=0 note="gateway unreachable, queued: connection refused"
                       report #1 submitting
                       show Processing { amount: Fen(1250) }
                       send pay #1 POS1-20261125-000001 code=1345…2101 ¥12.50 Some(WeChat)
                       (next timeout 60.000)
            [   7.000] pay reply #1 10000 SUCCESS TRADE_SUCCESS
                       journal #1 paid pays=3 queries=0 note="gateway unreachable, queued: connection refused"
                       report #1 paid trade_no=2026112522001400001234
                       show Paid { amount: Fen(1250), payway: Some(WeChat), trade_no_tail: "001234" }
        "#]],
    );
}

#[test]
fn unknown_after_sending_is_resolved_by_query_only() {
    check(
        &[
            Arm(1250),
            Scan(WECHAT),
            Reply(Answer::Unknown),
            Wait,
            // The query itself times out: ask again on the interval, never pay again.
            Reply(Answer::Unknown),
            Wait,
            Reply(not_found()),
            Wait,
            Reply(paid()),
        ],
        expect![[r#"
            [   0.000] start
                       show Ready
            [   0.000] arm ¥12.50
                       -> ok POS1-20261125-000001
                       journal #1 armed pays=0 queries=0
                       report #1 armed
                       show Armed { amount: Fen(1250), subject: "Coffee" }
            [   0.000] scan 1345…2101
                       journal #1 submitting code=1345…2101 pays=1 queries=0
                       report #1 submitting
                       show Processing { amount: Fen(1250) }
                       send pay #1 POS1-20261125-000001 code=1345…2101 ¥12.50 Some(WeChat)
                       (next timeout 60.000)
            [   0.000] pay reply #1 Unknown
                       journal #1 unknown (deferred) pays=1 queries=0 next_poll=2.000 note="pay outcome unknown: timed out after 10 s"
                       report #1 unknown
                       show Checking { amount: Fen(1250) }
                       (next timeout 2.000)
            [   2.000] timeout
                       send query #1
                       (next timeout 60.000)
            [   2.000] query reply #1 Unknown
                       (next timeout 5.000)
            [   5.000] timeout
                       send query #1
                       (next timeout 60.000)
            [   5.000] query reply #1 40004 ORDER_NOTFOUND -
                       (next timeout 8.000)
            [   8.000] timeout
                       send query #1
                       (next timeout 60.000)
            [   8.000] query reply #1 10000 SUCCESS TRADE_SUCCESS
                       journal #1 paid pays=1 queries=3 note="query failed: timed out after 10 s"
                       report #1 paid trade_no=2026112522001400001234
                       show Paid { amount: Fen(1250), payway: Some(WeChat), trade_no_tail: "001234" }
        "#]],
    );
}

#[test]
fn unclear_verified_answers_are_resolved_by_query() {
    check(
        &[
            Arm(1250),
            Scan(WECHAT),
            // SYSTEMERROR on the pay: unknown, look it up.
            Reply(gw("40004", Some("SYSTEMERROR"), None)),
            Wait,
            // 20000 on the query: ask again.
            Reply(gw("20000", None, None)),
            Wait,
            // A paid status under a failure code contradicts itself: ask again.
            Reply(gw("40004", None, Some("TRADE_SUCCESS"))),
            Wait,
            Reply(gw("10000", None, Some("TRADE_CLOSED"))),
        ],
        expect![[r#"
            [   0.000] start
                       show Ready
            [   0.000] arm ¥12.50
                       -> ok POS1-20261125-000001
                       journal #1 armed pays=0 queries=0
                       report #1 armed
                       show Armed { amount: Fen(1250), subject: "Coffee" }
            [   0.000] scan 1345…2101
                       journal #1 submitting code=1345…2101 pays=1 queries=0
                       report #1 submitting
                       show Processing { amount: Fen(1250) }
                       send pay #1 POS1-20261125-000001 code=1345…2101 ¥12.50 Some(WeChat)
                       (next timeout 60.000)
            [   0.000] pay reply #1 40004 SYSTEMERROR -
                       journal #1 unknown pays=1 queries=0 next_poll=2.000 note="SYSTEMERROR"
                       report #1 unknown
                       show Checking { amount: Fen(1250) }
                       (next timeout 2.000)
            [   2.000] timeout
                       send query #1
                       (next timeout 60.000)
            [   2.000] query reply #1 20000 - -
                       (next timeout 5.000)
            [   5.000] timeout
                       send query #1
                       (next timeout 60.000)
            [   5.000] query reply #1 40004 - TRADE_SUCCESS
                       (next timeout 8.000)
            [   8.000] timeout
                       send query #1
                       (next timeout 60.000)
            [   8.000] query reply #1 10000 - TRADE_CLOSED
                       journal #1 failed pays=1 queries=3 note="contradictory answer: TRADE_SUCCESS"
                       report #1 failed des="TRADE_CLOSED"
                       show Failed { amount: Fen(1250), err_code: None, reason: "TRADE_CLOSED" }
        "#]],
    );
}

#[test]
fn order_conflict_on_a_resend_means_look_it_up() {
    check(
        &[
            Arm(1250),
            Scan(WECHAT),
            Reply(Answer::Offline),
            Reachable,
            Reply(gw("40004", Some("ORDER_CONFLICT"), None)),
            Wait,
            Reply(paid()),
        ],
        expect![[r#"
            [   0.000] start
                       show Ready
            [   0.000] arm ¥12.50
                       -> ok POS1-20261125-000001
                       journal #1 armed pays=0 queries=0
                       report #1 armed
                       show Armed { amount: Fen(1250), subject: "Coffee" }
            [   0.000] scan 1345…2101
                       journal #1 submitting code=1345…2101 pays=1 queries=0
                       report #1 submitting
                       show Processing { amount: Fen(1250) }
                       send pay #1 POS1-20261125-000001 code=1345…2101 ¥12.50 Some(WeChat)
                       (next timeout 60.000)
            [   0.000] pay reply #1 Offline
                       journal #1 queued code=1345…2101 pays=1 queries=0 note="gateway unreachable, queued: connection refused"
                       report #1 queued
                       show Offline { amount: Fen(1250), queue_depth: 1 }
                       (next timeout 5.000)
            [   0.000] gateway reachable
                       journal #1 submitting code=1345…2101 pays=2 queries=0 note="gateway unreachable, queued: connection refused"
                       report #1 submitting
                       show Processing { amount: Fen(1250) }
                       send pay #1 POS1-20261125-000001 code=1345…2101 ¥12.50 Some(WeChat)
                       (next timeout 60.000)
            [   0.000] pay reply #1 40004 ORDER_CONFLICT -
                       journal #1 unknown pays=2 queries=0 next_poll=2.000 note="the order exists already: looking it up"
                       report #1 unknown
                       show Checking { amount: Fen(1250) }
                       (next timeout 2.000)
            [   2.000] timeout
                       send query #1
                       (next timeout 60.000)
            [   2.000] query reply #1 10000 SUCCESS TRADE_SUCCESS
                       journal #1 paid pays=2 queries=1 note="the order exists already: looking it up"
                       report #1 paid trade_no=2026112522001400001234
                       show Paid { amount: Fen(1250), payway: Some(WeChat), trade_no_tail: "001234" }
        "#]],
    );
}

#[test]
fn orderpaid_on_a_resend_means_look_it_up() {
    check(
        &[
            Arm(1250),
            Scan(ALIPAY),
            Reply(Answer::Offline),
            Wait,
            Reply(gw("40004", Some("ORDERPAID"), None)),
            Wait,
            Reply(gw("10000", Some("SUCCESS"), Some("TRADE_FINISHED"))),
        ],
        expect![[r#"
            [   0.000] start
                       show Ready
            [   0.000] arm ¥12.50
                       -> ok POS1-20261125-000001
                       journal #1 armed pays=0 queries=0
                       report #1 armed
                       show Armed { amount: Fen(1250), subject: "Coffee" }
            [   0.000] scan 2845…2101
                       journal #1 submitting code=2845…2101 pays=1 queries=0
                       report #1 submitting
                       show Processing { amount: Fen(1250) }
                       send pay #1 POS1-20261125-000001 code=2845…2101 ¥12.50 Some(Alipay)
                       (next timeout 60.000)
            [   0.000] pay reply #1 Offline
                       journal #1 queued code=2845…2101 pays=1 queries=0 note="gateway unreachable, queued: connection refused"
                       report #1 queued
                       show Offline { amount: Fen(1250), queue_depth: 1 }
                       (next timeout 5.000)
            [   5.000] timeout
                       journal #1 submitting code=2845…2101 pays=2 queries=0 note="gateway unreachable, queued: connection refused"
                       report #1 submitting
                       show Processing { amount: Fen(1250) }
                       send pay #1 POS1-20261125-000001 code=2845…2101 ¥12.50 Some(Alipay)
                       (next timeout 60.000)
            [   5.000] pay reply #1 40004 ORDERPAID -
                       journal #1 unknown pays=2 queries=0 next_poll=7.000 note="the order exists already: looking it up"
                       report #1 unknown
                       show Checking { amount: Fen(1250) }
                       (next timeout 7.000)
            [   7.000] timeout
                       send query #1
                       (next timeout 60.000)
            [   7.000] query reply #1 10000 SUCCESS TRADE_FINISHED
                       journal #1 paid pays=2 queries=1 note="the order exists already: looking it up"
                       report #1 paid trade_no=2026112522001400001234
                       show Paid { amount: Fen(1250), payway: Some(Alipay), trade_no_tail: "001234" }
        "#]],
    );
}

/// Invariant 7 (ARCHITECTURE.md): ORDERPAID on the first pay of a number this journal
/// never sent before is another order's (a lost journal, a shared prefix): the sale is not
/// paid by it, it needs a person, and the terminal is free for a new sale (a new number).
#[test]
fn orderpaid_on_a_number_never_sent_before_is_reported_not_taken_as_paid() {
    check(
        &[
            Arm(1250),
            Scan(WECHAT),
            Reply(gw("40004", Some("ORDERPAID"), None)),
            Arm(1250),
        ],
        expect![[r#"
            [   0.000] start
                       show Ready
            [   0.000] arm ¥12.50
                       -> ok POS1-20261125-000001
                       journal #1 armed pays=0 queries=0
                       report #1 armed
                       show Armed { amount: Fen(1250), subject: "Coffee" }
            [   0.000] scan 1345…2101
                       journal #1 submitting code=1345…2101 pays=1 queries=0
                       report #1 submitting
                       show Processing { amount: Fen(1250) }
                       send pay #1 POS1-20261125-000001 code=1345…2101 ¥12.50 Some(WeChat)
                       (next timeout 60.000)
            [   0.000] pay reply #1 40004 ORDERPAID -
                       journal #1 failed pays=1 queries=0 NEEDS_REVIEW note="order POS1-20261125-000001 exists at the gateway but this terminal never sent it (ORDERPAID): this customer was not charged; order numbers collide, check [payment] order_prefix; look the other order up with `scanpay query POS1-20261125-000001`"
                       report #1 failed err=ORDERPAID des="order POS1-20261125-000001 exists at the gateway but this terminal never sent it (ORDERPAID): this customer was not charged; order numbers collide, check [payment] order_prefix" needs_review
                       show Failed { amount: Fen(1250), err_code: Some("ORDERPAID"), reason: "order POS1-20261125-000001 exists at the gateway but this terminal never sent it (ORDERPAID): this customer was not charged; order numbers collide, check [payment] order_prefix" }
            [   0.000] arm ¥12.50
                       -> ok POS1-20261125-000002
                       journal #2 armed pays=0 queries=0
                       report #2 armed
                       show Armed { amount: Fen(1250), subject: "Coffee" }
        "#]],
    );
}

#[test]
fn queued_pay_expires_unsent() {
    check(
        &[
            Arm(1250),
            Scan(WECHAT),
            Reply(Answer::Offline),
            Wait,
            Reply(Answer::Offline),
            Wait,
            Reply(Answer::Offline),
            Wait,
            Reply(Answer::Offline),
            Wait,
            Reply(Answer::Offline),
            Wait,
            Reply(Answer::Offline),
            // 30 s after the scan: expired, never sent again, nothing charged.
            Wait,
            Reachable,
            Arm(900),
        ],
        expect![[r#"
            [   0.000] start
                       show Ready
            [   0.000] arm ¥12.50
                       -> ok POS1-20261125-000001
                       journal #1 armed pays=0 queries=0
                       report #1 armed
                       show Armed { amount: Fen(1250), subject: "Coffee" }
            [   0.000] scan 1345…2101
                       journal #1 submitting code=1345…2101 pays=1 queries=0
                       report #1 submitting
                       show Processing { amount: Fen(1250) }
                       send pay #1 POS1-20261125-000001 code=1345…2101 ¥12.50 Some(WeChat)
                       (next timeout 60.000)
            [   0.000] pay reply #1 Offline
                       journal #1 queued code=1345…2101 pays=1 queries=0 note="gateway unreachable, queued: connection refused"
                       report #1 queued
                       show Offline { amount: Fen(1250), queue_depth: 1 }
                       (next timeout 5.000)
            [   5.000] timeout
                       journal #1 submitting code=1345…2101 pays=2 queries=0 note="gateway unreachable, queued: connection refused"
                       report #1 submitting
                       show Processing { amount: Fen(1250) }
                       send pay #1 POS1-20261125-000001 code=1345…2101 ¥12.50 Some(WeChat)
                       (next timeout 60.000)
            [   5.000] pay reply #1 Offline
                       journal #1 queued code=1345…2101 pays=2 queries=0 note="gateway unreachable, queued: connection refused"
                       report #1 queued
                       show Offline { amount: Fen(1250), queue_depth: 1 }
                       (next timeout 10.000)
            [  10.000] timeout
                       journal #1 submitting code=1345…2101 pays=3 queries=0 note="gateway unreachable, queued: connection refused"
                       report #1 submitting
                       show Processing { amount: Fen(1250) }
                       send pay #1 POS1-20261125-000001 code=1345…2101 ¥12.50 Some(WeChat)
                       (next timeout 60.000)
            [  10.000] pay reply #1 Offline
                       journal #1 queued code=1345…2101 pays=3 queries=0 note="gateway unreachable, queued: connection refused"
                       report #1 queued
                       show Offline { amount: Fen(1250), queue_depth: 1 }
                       (next timeout 15.000)
            [  15.000] timeout
                       journal #1 submitting code=1345…2101 pays=4 queries=0 note="gateway unreachable, queued: connection refused"
                       report #1 submitting
                       show Processing { amount: Fen(1250) }
                       send pay #1 POS1-20261125-000001 code=1345…2101 ¥12.50 Some(WeChat)
                       (next timeout 60.000)
            [  15.000] pay reply #1 Offline
                       journal #1 queued code=1345…2101 pays=4 queries=0 note="gateway unreachable, queued: connection refused"
                       report #1 queued
                       show Offline { amount: Fen(1250), queue_depth: 1 }
                       (next timeout 20.000)
            [  20.000] timeout
                       journal #1 submitting code=1345…2101 pays=5 queries=0 note="gateway unreachable, queued: connection refused"
                       report #1 submitting
                       show Processing { amount: Fen(1250) }
                       send pay #1 POS1-20261125-000001 code=1345…2101 ¥12.50 Some(WeChat)
                       (next timeout 60.000)
            [  20.000] pay reply #1 Offline
                       journal #1 queued code=1345…2101 pays=5 queries=0 note="gateway unreachable, queued: connection refused"
                       report #1 queued
                       show Offline { amount: Fen(1250), queue_depth: 1 }
                       (next timeout 25.000)
            [  25.000] timeout
                       journal #1 submitting code=1345…2101 pays=6 queries=0 note="gateway unreachable, queued: connection refused"
                       report #1 submitting
                       show Processing { amount: Fen(1250) }
                       send pay #1 POS1-20261125-000001 code=1345…2101 ¥12.50 Some(WeChat)
                       (next timeout 60.000)
            [  25.000] pay reply #1 Offline
                       journal #1 queued code=1345…2101 pays=6 queries=0 note="gateway unreachable, queued: connection refused"
                       report #1 queued
                       show Offline { amount: Fen(1250), queue_depth: 1 }
                       (next timeout 30.000)
            [  30.000] timeout
                       journal #1 expired pays=6 queries=0 note="gateway unreachable, queued: connection refused"
                       report #1 expired des="not sent: the gateway could not be reached in time; nothing was charged"
                       show Expired { amount: Fen(1250) }
            [  30.000] gateway reachable
            [  30.000] arm ¥9.00
                       -> ok POS1-20261125-000002
                       journal #2 armed pays=0 queries=0
                       report #2 armed
                       show Armed { amount: Fen(900), subject: "Coffee" }
        "#]],
    );
}

#[test]
fn scans_while_offline_queue_and_drain_pay_first_then_queries_oldest_first() {
    check(
        &[
            // Sale 1: unknown past the deadline; sale 2: waiting past the deadline.
            Arm(100),
            Scan(WECHAT),
            Reply(Answer::Unknown),
            RunFor(60_000, not_found()),
            Arm(200),
            Scan(ALIPAY),
            Reply(userpaying()),
            RunFor(65_000, waiting()),
            // Both are unresolved now; the next background queries find the gateway gone.
            Wait,
            Reply(Answer::Offline),
            Reply(Answer::Offline),
            // A new sale scanned while offline is queued without trying.
            Arm(300),
            Scan(OTHER),
            Advance(1_000),
            // The gateway is back: the pay first, then the queries, oldest due first.
            Reachable,
            Reply(paid()),
            Reply(not_found()),
            Reply(paid()),
        ],
        expect![[r#"
            [   0.000] start
                       show Ready
            [   0.000] arm ¥1.00
                       -> ok POS1-20261125-000001
                       journal #1 armed pays=0 queries=0
                       report #1 armed
                       show Armed { amount: Fen(100), subject: "Coffee" }
            [   0.000] scan 1345…2101
                       journal #1 submitting code=1345…2101 pays=1 queries=0
                       report #1 submitting
                       show Processing { amount: Fen(100) }
                       send pay #1 POS1-20261125-000001 code=1345…2101 ¥1.00 Some(WeChat)
                       (next timeout 60.000)
            [   0.000] pay reply #1 Unknown
                       journal #1 unknown (deferred) pays=1 queries=0 next_poll=2.000 note="pay outcome unknown: timed out after 10 s"
                       report #1 unknown
                       show Checking { amount: Fen(100) }
                       (next timeout 2.000)
            [  60.000] (ran 60.000 s answering 40004 ORDER_NOTFOUND -: 20 requests sent)
                       (next timeout 90.000)
            [  60.000] arm ¥2.00
                       -> ok POS1-20261125-000002
                       journal #2 armed pays=0 queries=0
                       report #2 armed
                       show Armed { amount: Fen(200), subject: "Coffee" }
                       (next timeout 90.000)
            [  60.000] scan 2845…2101
                       journal #2 submitting code=2845…2101 pays=1 queries=0
                       report #2 submitting
                       show Processing { amount: Fen(200) }
                       send pay #2 POS1-20261125-000002 code=2845…2101 ¥2.00 Some(Alipay)
                       (next timeout 90.000)
            [  60.000] pay reply #2 40004 USERPAYING -
                       journal #2 waiting_customer pays=1 queries=0 next_poll=62.000
                       report #2 waiting_customer
                       show WaitingCustomer { amount: Fen(200), seconds_left: 60 }
                       (next timeout 62.000)
            [ 125.000] (ran 65.000 s answering 10000 - WAIT_BUYER_PAY: 22 requests sent)
                       (next timeout 150.000)
            [ 150.000] timeout
                       send query #1
                       send query #2
            [ 150.000] query reply #1 Offline
            [ 150.000] query reply #2 Offline
                       (next timeout 155.000)
            [ 150.000] arm ¥3.00
                       -> ok POS1-20261125-000003
                       journal #3 armed pays=0 queries=0
                       report #3 armed
                       show Armed { amount: Fen(300), subject: "Coffee" }
                       (next timeout 155.000)
            [ 150.000] scan 6212…8901
                       journal #3 queued code=6212…8901 pays=0 queries=0 note="gateway unreachable: queued"
                       report #3 queued
                       show Offline { amount: Fen(300), queue_depth: 3 }
                       (next timeout 155.000)
            [ 151.000] (advanced 1.000 s)
                       (next timeout 155.000)
            [ 151.000] gateway reachable
                       journal #3 submitting code=6212…8901 pays=1 queries=0 note="gateway unreachable: queued"
                       report #3 submitting
                       show Processing { amount: Fen(300) }
                       send pay #3 POS1-20261125-000003 code=6212…8901 ¥3.00 None
                       send query #1
                       send query #2
                       (next timeout 210.000)
            [ 151.000] pay reply #3 10000 SUCCESS TRADE_SUCCESS
                       journal #3 paid pays=1 queries=0 note="gateway unreachable: queued"
                       report #3 paid trade_no=2026112522001400001234
                       show Paid { amount: Fen(300), payway: None, trade_no_tail: "001234" }
            [ 151.000] query reply #1 40004 ORDER_NOTFOUND -
                       (next timeout 181.000)
            [ 151.000] query reply #2 10000 SUCCESS TRADE_SUCCESS
                       journal #2 paid pays=1 queries=22 note="query not sent, gateway unreachable: connection refused"
                       report #2 paid trade_no=2026112522001400001234
                       (next timeout 181.000)
        "#]],
    );
}

#[test]
fn duplicate_reused_and_bad_scans() {
    check(
        &[
            Scan(WECHAT),
            Arm(1250),
            // Scanned 0 s ago (refused, no sale): a repeat within 10 s is ignored.
            Scan(WECHAT),
            Advance(11_000),
            Scan(WECHAT),
            Scan(WECHAT),
            Scan(ALIPAY),
            Reply(paid()),
            Advance(11_000),
            Arm(500),
            Scan(WECHAT),
            Scan("https://qr.alipay.com/x1234567"),
            Scan("12345"),
            Scan(""),
        ],
        expect![[r#"
            [   0.000] start
                       show Ready
            [   0.000] scan 1345…2101
                       refused: no sale is armed; enter the amount on the register first, then scan (code 1345…2101 not used)
            [   0.000] arm ¥12.50
                       -> ok POS1-20261125-000001
                       journal #1 armed pays=0 queries=0
                       report #1 armed
                       show Armed { amount: Fen(1250), subject: "Coffee" }
            [   0.000] scan 1345…2101
            [  11.000] (advanced 11.000 s)
            [  11.000] scan 1345…2101
                       journal #1 submitting code=1345…2101 pays=1 queries=0
                       report #1 submitting
                       show Processing { amount: Fen(1250) }
                       send pay #1 POS1-20261125-000001 code=1345…2101 ¥12.50 Some(WeChat)
                       (next timeout 71.000)
            [  11.000] scan 1345…2101
                       (next timeout 71.000)
            [  11.000] scan 2845…2101
                       refused: sale POS1-20261125-000001 is submitting; wait for its result before scanning again (code 2845…2101 not used)
                       (next timeout 71.000)
            [  11.000] pay reply #1 10000 SUCCESS TRADE_SUCCESS
                       journal #1 paid pays=1 queries=0
                       report #1 paid trade_no=2026112522001400001234
                       show Paid { amount: Fen(1250), payway: Some(WeChat), trade_no_tail: "001234" }
            [  22.000] (advanced 11.000 s)
            [  22.000] arm ¥5.00
                       -> ok POS1-20261125-000002
                       journal #2 armed pays=0 queries=0
                       report #2 armed
                       show Armed { amount: Fen(500), subject: "Coffee" }
            [  22.000] scan 1345…2101
                       refused: payment code 1345…2101 was already used for sale POS1-20261125-000001; ask the customer to show a fresh code
            [  22.000] scan http…4567
                       refused: scanned code http…4567 contains characters other than digits; a payment code is digits only (is this a product barcode or a QR link?)
            [  22.000] scan *****
                       refused: scanned code has 5 characters; a payment code has 10 to 32 digits
            [  22.000] scan 
                       refused: scanned code is empty
        "#]],
    );
}

#[test]
fn disarm() {
    check(
        &[
            Arm(1250),
            Arm(500),
            Disarm,
            Disarm,
            Arm(700),
            Scan(WECHAT),
            Disarm,
        ],
        expect![[r#"
            [   0.000] start
                       show Ready
            [   0.000] arm ¥12.50
                       -> ok POS1-20261125-000001
                       journal #1 armed pays=0 queries=0
                       report #1 armed
                       show Armed { amount: Fen(1250), subject: "Coffee" }
            [   0.000] arm ¥5.00
                       -> error: sale POS1-20261125-000001 is armed at the counter; wait for its result or disarm it before arming another
            [   0.000] disarm #1
                       -> ok disarmed
                       journal #1 disarmed pays=0 queries=0
                       report #1 disarmed
                       show Ready
            [   0.000] disarm #1
                       -> error: no sale POS1-20261125-000001 at the counter; list sales with GET /v1/sales
            [   0.000] arm ¥7.00
                       -> ok POS1-20261125-000002
                       journal #2 armed pays=0 queries=0
                       report #2 armed
                       show Armed { amount: Fen(700), subject: "Coffee" }
            [   0.000] scan 1345…2101
                       journal #2 submitting code=1345…2101 pays=1 queries=0
                       report #2 submitting
                       show Processing { amount: Fen(700) }
                       send pay #2 POS1-20261125-000002 code=1345…2101 ¥7.00 Some(WeChat)
                       (next timeout 60.000)
            [   0.000] disarm #2
                       -> error: sale POS1-20261125-000002 is submitting and can no longer be disarmed: its code was scanned; wait for its result
                       (next timeout 60.000)
        "#]],
    );
}

#[test]
fn invalid_request_fails_without_sending() {
    check(
        &[Arm(1250), Scan(WECHAT), Reply(Answer::Invalid)],
        expect![[r#"
        [   0.000] start
                   show Ready
        [   0.000] arm ¥12.50
                   -> ok POS1-20261125-000001
                   journal #1 armed pays=0 queries=0
                   report #1 armed
                   show Armed { amount: Fen(1250), subject: "Coffee" }
        [   0.000] scan 1345…2101
                   journal #1 submitting code=1345…2101 pays=1 queries=0
                   report #1 submitting
                   show Processing { amount: Fen(1250) }
                   send pay #1 POS1-20261125-000001 code=1345…2101 ¥12.50 Some(WeChat)
                   (next timeout 60.000)
        [   0.000] pay reply #1 Invalid
                   journal #1 failed pays=1 queries=0 note="pay request refused locally: subject longer than 128 bytes"
                   report #1 failed des="not sent: subject longer than 128 bytes"
                   show Failed { amount: Fen(1250), err_code: None, reason: "not sent: subject longer than 128 bytes" }
    "#]],
    );
}

#[test]
fn configuration_problem_on_pay_fails_but_on_query_keeps_asking() {
    check(
        &[
            Arm(1250),
            Scan(WECHAT),
            Reply(gw("40004", Some("SIGNERROR"), None)),
            Arm(1250),
            Advance(11_000),
            Scan(ALIPAY),
            Reply(Answer::Unknown),
            Wait,
            Reply(gw("40004", Some("APPID_NOT_EXIST"), None)),
            Wait,
            Reply(paid()),
        ],
        expect![[r#"
            [   0.000] start
                       show Ready
            [   0.000] arm ¥12.50
                       -> ok POS1-20261125-000001
                       journal #1 armed pays=0 queries=0
                       report #1 armed
                       show Armed { amount: Fen(1250), subject: "Coffee" }
            [   0.000] scan 1345…2101
                       journal #1 submitting code=1345…2101 pays=1 queries=0
                       report #1 submitting
                       show Processing { amount: Fen(1250) }
                       send pay #1 POS1-20261125-000001 code=1345…2101 ¥12.50 Some(WeChat)
                       (next timeout 60.000)
            [   0.000] pay reply #1 40004 SIGNERROR -
                       journal #1 failed pays=1 queries=0
                       report #1 failed err=SIGNERROR des="the gateway refused the merchant setup (SIGNERROR); check app_id and key"
                       show Failed { amount: Fen(1250), err_code: Some("SIGNERROR"), reason: "the gateway refused the merchant setup (SIGNERROR); check app_id and key" }
            [   0.000] arm ¥12.50
                       -> ok POS1-20261125-000002
                       journal #2 armed pays=0 queries=0
                       report #2 armed
                       show Armed { amount: Fen(1250), subject: "Coffee" }
            [  11.000] (advanced 11.000 s)
            [  11.000] scan 2845…2101
                       journal #2 submitting code=2845…2101 pays=1 queries=0
                       report #2 submitting
                       show Processing { amount: Fen(1250) }
                       send pay #2 POS1-20261125-000002 code=2845…2101 ¥12.50 Some(Alipay)
                       (next timeout 71.000)
            [  11.000] pay reply #2 Unknown
                       journal #2 unknown (deferred) pays=1 queries=0 next_poll=13.000 note="pay outcome unknown: timed out after 10 s"
                       report #2 unknown
                       show Checking { amount: Fen(1250) }
                       (next timeout 13.000)
            [  13.000] timeout
                       send query #2
                       (next timeout 71.000)
            [  13.000] query reply #2 40004 APPID_NOT_EXIST -
                       journal #2 unknown pays=1 queries=1 next_poll=16.000 note="pay outcome unknown: timed out after 10 s"
                       (next timeout 16.000)
            [  16.000] timeout
                       send query #2
                       (next timeout 71.000)
            [  16.000] query reply #2 10000 SUCCESS TRADE_SUCCESS
                       journal #2 paid pays=1 queries=2 note="pay outcome unknown: timed out after 10 s"
                       report #2 paid trade_no=2026112522001400001234
                       show Paid { amount: Fen(1250), payway: Some(Alipay), trade_no_tail: "001234" }
        "#]],
    );
}

/// Where one sale stands after one answer: `state err` (or the request sent next).
fn after(answer: Answer, to_query: bool) -> String {
    let mut sim = Sim::new(scanpay::engine::EnginePolicy::default());
    sim.quiet = true;
    sim.run(&[Arm(1250), Scan(WECHAT)]);
    if to_query {
        sim.run(&[Reply(Answer::Unknown), Wait]);
    }
    sim.run(&[Reply(answer)]);
    let record = sim.journal.values().next().unwrap();
    let mut text = record.state.as_str().to_string();
    if let Some(e) = &record.err_code {
        text.push_str(&format!(" err={e}"));
    }
    if record.auth_code.is_some() {
        text.push_str(" (code kept)");
    }
    if let Some(t) = sim.engine.poll_timeout() {
        let next = sim.engine.sale(&record.sale_id).map(|v| v.state.as_str());
        if next.is_some() {
            text.push_str(&format!(" next={:.0}s", (t.0 - sim.now.0) as f64 / 1000.0));
        }
    }
    text
}

#[test]
fn every_err_code_class_on_pay_and_on_query() {
    let rows = [
        gw("10000", None, Some("TRADE_SUCCESS")),
        gw("10000", Some("SUCCESS"), None),
        gw("10000", None, Some("WAIT_BUYER_PAY")),
        gw("40004", Some("USERPAYING"), None),
        gw("40004", Some("INSUFFICIENT"), None),
        gw("40004", Some("ORDERCLOSED"), None),
        gw("40002", Some("PARAMSERROR"), None),
        gw("40001", Some("LACK_PARAMS"), None),
        gw("40004", None, Some("TRADE_CLOSED")),
        gw("10000", None, Some("REFUNDED")),
        gw("10000", None, Some("REFUND_ERROR")),
        gw("40004", Some("ORDERPAID"), None),
        gw("40004", Some("ORDER_CONFLICT"), None),
        gw("40004", Some("ORDER_NOTFOUND"), None),
        gw("40004", Some("SYSTEMERROR"), None),
        gw("20000", None, None),
        gw("40004", Some("FREQUENTLY"), None),
        gw("40004", Some("SIGNERROR"), None),
        gw("40004", Some("UNACTIVATE"), None),
        gw("10000", None, None),
        gw("40004", Some("SOMETHING_NEW"), None),
        // A status this version does not know is no order status it can settle a sale on, and
        // on a pay it says an order exists: look it up.
        gw("40004", Some("PARAMSERROR"), Some("TRADE_PENDING")),
        gw("40004", Some("INSUFFICIENT"), Some("TRADE_PENDING")),
        Answer::Offline,
        Answer::Unknown,
        Answer::Invalid,
    ];
    let mut table = String::new();
    for row in rows {
        let label = match &row {
            Answer::Gateway {
                result,
                err,
                status,
                ..
            } => format!("{result} {} {}", err.unwrap_or("-"), status.unwrap_or("-")),
            other => format!("{other:?}"),
        };
        table.push_str(&format!(
            "{label:<36} pay: {:<32} query: {}\n",
            after(row.clone(), false),
            after(row, true)
        ));
    }
    expect![[r#"
        10000 - TRADE_SUCCESS                pay: paid                             query: paid
        10000 SUCCESS -                      pay: paid                             query: paid
        10000 - WAIT_BUYER_PAY               pay: waiting_customer next=2s         query: waiting_customer next=3s
        40004 USERPAYING -                   pay: waiting_customer next=2s         query: waiting_customer next=3s
        40004 INSUFFICIENT -                 pay: failed err=INSUFFICIENT          query: failed err=INSUFFICIENT
        40004 ORDERCLOSED -                  pay: failed err=ORDERCLOSED           query: failed err=ORDERCLOSED
        40002 PARAMSERROR -                  pay: failed err=PARAMSERROR           query: unknown next=3s
        40001 LACK_PARAMS -                  pay: failed err=LACK_PARAMS           query: unknown next=3s
        40004 - TRADE_CLOSED                 pay: failed                           query: failed
        10000 - REFUNDED                     pay: failed err=REFUNDED              query: failed err=REFUNDED
        10000 - REFUND_ERROR                 pay: failed err=REFUND_ERROR          query: failed err=REFUND_ERROR
        40004 ORDERPAID -                    pay: failed err=ORDERPAID             query: unknown next=3s
        40004 ORDER_CONFLICT -               pay: failed err=ORDER_CONFLICT        query: unknown next=3s
        40004 ORDER_NOTFOUND -               pay: failed err=ORDER_NOTFOUND        query: unknown next=3s
        40004 SYSTEMERROR -                  pay: unknown next=2s                  query: unknown next=3s
        20000 - -                            pay: unknown next=2s                  query: unknown next=3s
        40004 FREQUENTLY -                   pay: unknown next=6s                  query: unknown next=6s
        40004 SIGNERROR -                    pay: failed err=SIGNERROR             query: unknown next=3s
        40004 UNACTIVATE -                   pay: failed err=UNACTIVATE            query: unknown next=3s
        10000 - -                            pay: unknown next=2s                  query: unknown next=3s
        40004 SOMETHING_NEW -                pay: failed err=SOMETHING_NEW         query: unknown next=3s
        40004 PARAMSERROR TRADE_PENDING      pay: unknown next=2s                  query: unknown next=3s
        40004 INSUFFICIENT TRADE_PENDING     pay: failed err=INSUFFICIENT          query: failed err=INSUFFICIENT
        Offline                              pay: queued (code kept) next=5s       query: unknown next=5s
        Unknown                              pay: unknown next=2s                  query: unknown next=3s
        Invalid                              pay: failed                           query: unknown next=3s
    "#]].assert_eq(&table);
}

#[test]
fn restart_while_armed_disarms() {
    check(
        &[Arm(1250), Restart(1_000), Arm(500)],
        expect![[r#"
        [   0.000] start
                   show Ready
        [   0.000] arm ¥12.50
                   -> ok POS1-20261125-000001
                   journal #1 armed pays=0 queries=0
                   report #1 armed
                   show Armed { amount: Fen(1250), subject: "Coffee" }
        [   0.000] crash
        [   1.000] restart (1 unfinished, last_seq 1)
                   show Ready
                   journal #1 disarmed pays=0 queries=0 note="disarmed at restart: arm it again on the register"
                   report #1 disarmed
        [   1.000] arm ¥5.00
                   -> ok POS1-20261125-000002
                   journal #2 armed pays=0 queries=0
                   report #2 armed
                   show Armed { amount: Fen(500), subject: "Coffee" }
    "#]],
    );
}

#[test]
fn restart_while_submitting_queries_and_never_pays_again() {
    check(
        &[Arm(1250), Scan(WECHAT), Restart(1_000), Reply(paid())],
        expect![[r#"
            [   0.000] start
                       show Ready
            [   0.000] arm ¥12.50
                       -> ok POS1-20261125-000001
                       journal #1 armed pays=0 queries=0
                       report #1 armed
                       show Armed { amount: Fen(1250), subject: "Coffee" }
            [   0.000] scan 1345…2101
                       journal #1 submitting code=1345…2101 pays=1 queries=0
                       report #1 submitting
                       show Processing { amount: Fen(1250) }
                       send pay #1 POS1-20261125-000001 code=1345…2101 ¥12.50 Some(WeChat)
                       (next timeout 60.000)
            [   0.000] crash
            [   1.000] restart (1 unfinished, last_seq 1)
                       show Ready
                       journal #1 unknown (deferred) pays=1 queries=0 next_poll=1.000 note="restarted while the pay request was in flight"
                       report #1 unknown
                       show Checking { amount: Fen(1250) }
                       send query #1
                       (next timeout 60.000)
            [   1.000] query reply #1 10000 SUCCESS TRADE_SUCCESS
                       journal #1 paid pays=1 queries=1 note="restarted while the pay request was in flight"
                       report #1 paid trade_no=2026112522001400001234
                       show Paid { amount: Fen(1250), payway: Some(WeChat), trade_no_tail: "001234" }
        "#]],
    );
}

#[test]
fn restart_while_submitting_past_the_deadline_reconciles() {
    check(
        &[
            Arm(1250),
            Scan(WECHAT),
            Restart(120_000),
            Reply(waiting()),
            Arm(300),
        ],
        expect![[r#"
            [   0.000] start
                       show Ready
            [   0.000] arm ¥12.50
                       -> ok POS1-20261125-000001
                       journal #1 armed pays=0 queries=0
                       report #1 armed
                       show Armed { amount: Fen(1250), subject: "Coffee" }
            [   0.000] scan 1345…2101
                       journal #1 submitting code=1345…2101 pays=1 queries=0
                       report #1 submitting
                       show Processing { amount: Fen(1250) }
                       send pay #1 POS1-20261125-000001 code=1345…2101 ¥12.50 Some(WeChat)
                       (next timeout 60.000)
            [   0.000] crash
            [ 120.000] restart (1 unfinished, last_seq 1)
                       show Ready
                       journal #1 unresolved (deferred) pays=1 queries=0 next_poll=120.000 note="restarted while the pay request was in flight"
                       report #1 unresolved
                       send query #1
            [ 120.000] query reply #1 10000 - WAIT_BUYER_PAY
                       journal #1 unresolved pays=1 queries=1 next_poll=150.000 note="restarted while the pay request was in flight"
                       (next timeout 150.000)
            [ 120.000] arm ¥3.00
                       -> ok POS1-20261125-000002
                       journal #2 armed pays=0 queries=0
                       report #2 armed
                       show Armed { amount: Fen(300), subject: "Coffee" }
                       (next timeout 150.000)
        "#]],
    );
}

#[test]
fn restart_while_waiting_keeps_polling() {
    check(
        &[
            Arm(1250),
            Scan(WECHAT),
            Reply(userpaying()),
            Restart(4_000),
            Reply(waiting()),
            Wait,
            Reply(paid()),
        ],
        expect![[r#"
            [   0.000] start
                       show Ready
            [   0.000] arm ¥12.50
                       -> ok POS1-20261125-000001
                       journal #1 armed pays=0 queries=0
                       report #1 armed
                       show Armed { amount: Fen(1250), subject: "Coffee" }
            [   0.000] scan 1345…2101
                       journal #1 submitting code=1345…2101 pays=1 queries=0
                       report #1 submitting
                       show Processing { amount: Fen(1250) }
                       send pay #1 POS1-20261125-000001 code=1345…2101 ¥12.50 Some(WeChat)
                       (next timeout 60.000)
            [   0.000] pay reply #1 40004 USERPAYING -
                       journal #1 waiting_customer pays=1 queries=0 next_poll=2.000
                       report #1 waiting_customer
                       show WaitingCustomer { amount: Fen(1250), seconds_left: 60 }
                       (next timeout 2.000)
            [   0.000] crash
            [   4.000] restart (1 unfinished, last_seq 1)
                       show Ready
                       show WaitingCustomer { amount: Fen(1250), seconds_left: 56 }
                       send query #1
                       (next timeout 60.000)
            [   4.000] query reply #1 10000 - WAIT_BUYER_PAY
                       show WaitingCustomer { amount: Fen(1250), seconds_left: 56 }
                       (next timeout 7.000)
            [   7.000] timeout
                       send query #1
                       (next timeout 60.000)
            [   7.000] query reply #1 10000 SUCCESS TRADE_SUCCESS
                       journal #1 paid pays=1 queries=2
                       report #1 paid trade_no=2026112522001400001234
                       show Paid { amount: Fen(1250), payway: Some(WeChat), trade_no_tail: "001234" }
        "#]],
    );
}

#[test]
fn restart_while_queued_sends_if_young_else_expires() {
    check(
        &[
            Arm(1250),
            Scan(WECHAT),
            Reply(Answer::Offline),
            Restart(3_000),
            Reply(paid()),
            Arm(700),
            Advance(11_000),
            Scan(ALIPAY),
            Reply(Answer::Offline),
            Restart(40_000),
            Arm(100),
        ],
        expect![[r#"
            [   0.000] start
                       show Ready
            [   0.000] arm ¥12.50
                       -> ok POS1-20261125-000001
                       journal #1 armed pays=0 queries=0
                       report #1 armed
                       show Armed { amount: Fen(1250), subject: "Coffee" }
            [   0.000] scan 1345…2101
                       journal #1 submitting code=1345…2101 pays=1 queries=0
                       report #1 submitting
                       show Processing { amount: Fen(1250) }
                       send pay #1 POS1-20261125-000001 code=1345…2101 ¥12.50 Some(WeChat)
                       (next timeout 60.000)
            [   0.000] pay reply #1 Offline
                       journal #1 queued code=1345…2101 pays=1 queries=0 note="gateway unreachable, queued: connection refused"
                       report #1 queued
                       show Offline { amount: Fen(1250), queue_depth: 1 }
                       (next timeout 5.000)
            [   0.000] crash
            [   3.000] restart (1 unfinished, last_seq 1)
                       show Ready
                       show Offline { amount: Fen(1250), queue_depth: 1 }
                       journal #1 submitting code=1345…2101 pays=2 queries=0 note="gateway unreachable, queued: connection refused"
                       report #1 submitting
                       show Processing { amount: Fen(1250) }
                       send pay #1 POS1-20261125-000001 code=1345…2101 ¥12.50 Some(WeChat)
                       (next timeout 60.000)
            [   3.000] pay reply #1 10000 SUCCESS TRADE_SUCCESS
                       journal #1 paid pays=2 queries=0 note="gateway unreachable, queued: connection refused"
                       report #1 paid trade_no=2026112522001400001234
                       show Paid { amount: Fen(1250), payway: Some(WeChat), trade_no_tail: "001234" }
            [   3.000] arm ¥7.00
                       -> ok POS1-20261125-000002
                       journal #2 armed pays=0 queries=0
                       report #2 armed
                       show Armed { amount: Fen(700), subject: "Coffee" }
            [  14.000] (advanced 11.000 s)
            [  14.000] scan 2845…2101
                       journal #2 submitting code=2845…2101 pays=1 queries=0
                       report #2 submitting
                       show Processing { amount: Fen(700) }
                       send pay #2 POS1-20261125-000002 code=2845…2101 ¥7.00 Some(Alipay)
                       (next timeout 74.000)
            [  14.000] pay reply #2 Offline
                       journal #2 queued code=2845…2101 pays=1 queries=0 note="gateway unreachable, queued: connection refused"
                       report #2 queued
                       show Offline { amount: Fen(700), queue_depth: 1 }
                       (next timeout 19.000)
            [  14.000] crash
            [  54.000] restart (1 unfinished, last_seq 2)
                       show Ready
                       journal #2 expired pays=1 queries=0 note="gateway unreachable, queued: connection refused"
                       report #2 expired des="not sent: the gateway could not be reached in time; nothing was charged"
                       show Expired { amount: Fen(700) }
            [  54.000] arm ¥1.00
                       -> ok POS1-20261125-000003
                       journal #3 armed pays=0 queries=0
                       report #3 armed
                       show Armed { amount: Fen(100), subject: "Coffee" }
        "#]],
    );
}

#[test]
fn restart_with_the_clock_behind_the_journal_sends_no_queued_pay_and_frees_the_counter() {
    // A power cut takes the router down too: the Pi (no real-time clock) boots with the time
    // it saved earlier and cannot reach NTP. How long it was down is unknown, so a queued
    // pay cannot be shown to be young, nor a sale to be inside the cashier's deadline.
    check(
        &[
            Arm(1250),
            Advance(600_000),
            Scan(WECHAT),
            Reply(Answer::Offline),
            RestartClockBehind(300_000),
            Arm(700),
            Scan(ALIPAY),
            Reply(userpaying()),
            RestartClockBehind(100_000),
            Reply(waiting()),
            Arm(100),
        ],
        expect![[r#"
            [   0.000] start
                       show Ready
            [   0.000] arm ¥12.50
                       -> ok POS1-20261125-000001
                       journal #1 armed pays=0 queries=0
                       report #1 armed
                       show Armed { amount: Fen(1250), subject: "Coffee" }
            [ 600.000] (advanced 600.000 s)
            [ 600.000] scan 1345…2101
                       journal #1 submitting code=1345…2101 pays=1 queries=0
                       report #1 submitting
                       show Processing { amount: Fen(1250) }
                       send pay #1 POS1-20261125-000001 code=1345…2101 ¥12.50 Some(WeChat)
                       (next timeout 660.000)
            [ 600.000] pay reply #1 Offline
                       journal #1 queued code=1345…2101 pays=1 queries=0 note="gateway unreachable, queued: connection refused"
                       report #1 queued
                       show Offline { amount: Fen(1250), queue_depth: 1 }
                       (next timeout 605.000)
            [ 600.000] crash
            [ 300.000] restart (1 unfinished, last_seq 1)
                       show Ready
                       journal #1 expired pays=1 queries=0 note="restarted with the clock behind the journal: the queued pay's age is unknown, so it was not sent"
                       report #1 expired des="not sent: the gateway could not be reached in time; nothing was charged"
            [ 300.000] arm ¥7.00
                       -> ok POS1-20261125-000002
                       journal #2 armed pays=0 queries=0
                       report #2 armed
                       show Armed { amount: Fen(700), subject: "Coffee" }
            [ 300.000] scan 2845…2101
                       journal #2 submitting code=2845…2101 pays=1 queries=0
                       report #2 submitting
                       show Processing { amount: Fen(700) }
                       send pay #2 POS1-20261125-000002 code=2845…2101 ¥7.00 Some(Alipay)
                       (next timeout 360.000)
            [ 300.000] pay reply #2 40004 USERPAYING -
                       journal #2 waiting_customer pays=1 queries=0 next_poll=302.000
                       report #2 waiting_customer
                       show WaitingCustomer { amount: Fen(700), seconds_left: 60 }
                       (next timeout 302.000)
            [ 300.000] crash
            [ 200.000] restart (1 unfinished, last_seq 2)
                       show Ready
                       journal #2 unresolved (deferred) pays=1 queries=0 next_poll=200.000
                       report #2 unresolved
                       send query #2
            [ 200.000] query reply #2 10000 - WAIT_BUYER_PAY
                       (next timeout 230.000)
            [ 200.000] arm ¥1.00
                       -> ok POS1-20261125-000003
                       journal #3 armed pays=0 queries=0
                       report #3 armed
                       show Armed { amount: Fen(100), subject: "Coffee" }
                       (next timeout 230.000)
        "#]],
    );
}

#[test]
fn restart_while_unknown_and_unresolved_keeps_polling() {
    check(
        &[
            Arm(1250),
            Scan(WECHAT),
            Reply(Answer::Unknown),
            RunFor(61_000, not_found()),
            Arm(800),
            Scan(ALIPAY),
            Reply(Answer::Unknown),
            Restart(5_000),
            Reply(not_found()),
            Reply(not_found()),
            Wait,
            Reply(paid()),
            Wait,
            Reply(paid()),
        ],
        expect![[r#"
            [   0.000] start
                       show Ready
            [   0.000] arm ¥12.50
                       -> ok POS1-20261125-000001
                       journal #1 armed pays=0 queries=0
                       report #1 armed
                       show Armed { amount: Fen(1250), subject: "Coffee" }
            [   0.000] scan 1345…2101
                       journal #1 submitting code=1345…2101 pays=1 queries=0
                       report #1 submitting
                       show Processing { amount: Fen(1250) }
                       send pay #1 POS1-20261125-000001 code=1345…2101 ¥12.50 Some(WeChat)
                       (next timeout 60.000)
            [   0.000] pay reply #1 Unknown
                       journal #1 unknown (deferred) pays=1 queries=0 next_poll=2.000 note="pay outcome unknown: timed out after 10 s"
                       report #1 unknown
                       show Checking { amount: Fen(1250) }
                       (next timeout 2.000)
            [  61.000] (ran 61.000 s answering 40004 ORDER_NOTFOUND -: 20 requests sent)
                       (next timeout 90.000)
            [  61.000] arm ¥8.00
                       -> ok POS1-20261125-000002
                       journal #2 armed pays=0 queries=0
                       report #2 armed
                       show Armed { amount: Fen(800), subject: "Coffee" }
                       (next timeout 90.000)
            [  61.000] scan 2845…2101
                       journal #2 submitting code=2845…2101 pays=1 queries=0
                       report #2 submitting
                       show Processing { amount: Fen(800) }
                       send pay #2 POS1-20261125-000002 code=2845…2101 ¥8.00 Some(Alipay)
                       (next timeout 90.000)
            [  61.000] pay reply #2 Unknown
                       journal #2 unknown (deferred) pays=1 queries=0 next_poll=63.000 note="pay outcome unknown: timed out after 10 s"
                       report #2 unknown
                       show Checking { amount: Fen(800) }
                       (next timeout 63.000)
            [  61.000] crash
            [  66.000] restart (2 unfinished, last_seq 2)
                       show Ready
                       show Checking { amount: Fen(800) }
                       send query #1
                       send query #2
                       (next timeout 121.000)
            [  66.000] query reply #1 40004 ORDER_NOTFOUND -
                       (next timeout 96.000)
            [  66.000] query reply #2 40004 ORDER_NOTFOUND -
                       (next timeout 69.000)
            [  69.000] timeout
                       send query #2
                       (next timeout 96.000)
            [  69.000] query reply #2 10000 SUCCESS TRADE_SUCCESS
                       journal #2 paid pays=1 queries=2 note="pay outcome unknown: timed out after 10 s"
                       report #2 paid trade_no=2026112522001400001234
                       show Paid { amount: Fen(800), payway: Some(Alipay), trade_no_tail: "001234" }
                       (next timeout 96.000)
            [  96.000] timeout
                       send query #1
            [  96.000] query reply #1 10000 SUCCESS TRADE_SUCCESS
                       journal #1 paid pays=1 queries=22 note="pay outcome unknown: timed out after 10 s"
                       report #1 paid trade_no=2026112522001400001234
        "#]],
    );
}

#[test]
fn restart_after_final_keeps_numbering() {
    check(
        &[
            Arm(1250),
            Scan(WECHAT),
            Reply(paid()),
            Restart(1_000),
            Arm(900),
        ],
        expect![[r#"
            [   0.000] start
                       show Ready
            [   0.000] arm ¥12.50
                       -> ok POS1-20261125-000001
                       journal #1 armed pays=0 queries=0
                       report #1 armed
                       show Armed { amount: Fen(1250), subject: "Coffee" }
            [   0.000] scan 1345…2101
                       journal #1 submitting code=1345…2101 pays=1 queries=0
                       report #1 submitting
                       show Processing { amount: Fen(1250) }
                       send pay #1 POS1-20261125-000001 code=1345…2101 ¥12.50 Some(WeChat)
                       (next timeout 60.000)
            [   0.000] pay reply #1 10000 SUCCESS TRADE_SUCCESS
                       journal #1 paid pays=1 queries=0
                       report #1 paid trade_no=2026112522001400001234
                       show Paid { amount: Fen(1250), payway: Some(WeChat), trade_no_tail: "001234" }
            [   0.000] crash
            [   1.000] restart (0 unfinished, last_seq 1)
                       show Ready
            [   1.000] arm ¥9.00
                       -> ok POS1-20261125-000002
                       journal #2 armed pays=0 queries=0
                       report #2 armed
                       show Armed { amount: Fen(900), subject: "Coffee" }
        "#]],
    );
}

#[test]
fn reconciliation_schedule_ends_in_needs_review_and_a_callback_still_counts() {
    check(
        &[
            Arm(1250),
            Scan(WECHAT),
            Reply(Answer::Unknown),
            // The gateway answers but cannot tell (20000), so the not-found rule never
            // applies (a_pay_the_gateway_never_received_ends_failed_after_the_window).
            // 20 queries while the cashier waits (2 s, then every 3 s up to 60 s).
            RunFor(60_000, gw("20000", None, None)),
            // 15 min at 30 s: 30 queries.
            RunFor(15 * 60_000, gw("20000", None, None)),
            // Up to 24 h after the deadline at 5 min: 284 more.
            RunFor(
                24 * 3_600_000 - 15 * 60_000 - 1_000,
                gw("20000", None, None),
            ),
            // Then no more polling: flagged for a person.
            Wait,
            Wait,
            Notify(paid()),
        ],
        expect![[r#"
            [   0.000] start
                       show Ready
            [   0.000] arm ¥12.50
                       -> ok POS1-20261125-000001
                       journal #1 armed pays=0 queries=0
                       report #1 armed
                       show Armed { amount: Fen(1250), subject: "Coffee" }
            [   0.000] scan 1345…2101
                       journal #1 submitting code=1345…2101 pays=1 queries=0
                       report #1 submitting
                       show Processing { amount: Fen(1250) }
                       send pay #1 POS1-20261125-000001 code=1345…2101 ¥12.50 Some(WeChat)
                       (next timeout 60.000)
            [   0.000] pay reply #1 Unknown
                       journal #1 unknown (deferred) pays=1 queries=0 next_poll=2.000 note="pay outcome unknown: timed out after 10 s"
                       report #1 unknown
                       show Checking { amount: Fen(1250) }
                       (next timeout 2.000)
            [  60.000] (ran 60.000 s answering 20000 - -: 20 requests sent)
                       (next timeout 90.000)
            [ 960.000] (ran 900.000 s answering 20000 - -: 30 requests sent)
                       (next timeout 1260.000)
            [86459.000] (ran 85499.000 s answering 20000 - -: 284 requests sent)
                       (next timeout 86460.000)
            [86460.000] timeout
                       journal #1 unresolved pays=1 queries=334 NEEDS_REVIEW note="no outcome after the reconciliation window: look it up in the gateway's statements"
                       report #1 unresolved des="no outcome after the reconciliation window: look it up in the gateway's statements" needs_review
            [86460.000] wait: nothing scheduled
            [86460.000] notify #1 10000 SUCCESS TRADE_SUCCESS
                       journal #1 paid pays=1 queries=334 LATE note="no outcome after the reconciliation window: look it up in the gateway's statements"
                       report #1 paid trade_no=2026112522001400001234 late
        "#]],
    );
}

#[test]
fn a_callback_settles_only_what_it_can() {
    check(
        &[
            Arm(1250),
            Scan(WECHAT),
            Reply(Answer::Unknown),
            // "Still waiting" in a callback changes nothing; polling goes on.
            Notify(waiting()),
            Notify(insufficient()),
            // The sale is final: a second callback is about an order no longer followed.
            Notify(paid()),
        ],
        expect![[r#"
            [   0.000] start
                       show Ready
            [   0.000] arm ¥12.50
                       -> ok POS1-20261125-000001
                       journal #1 armed pays=0 queries=0
                       report #1 armed
                       show Armed { amount: Fen(1250), subject: "Coffee" }
            [   0.000] scan 1345…2101
                       journal #1 submitting code=1345…2101 pays=1 queries=0
                       report #1 submitting
                       show Processing { amount: Fen(1250) }
                       send pay #1 POS1-20261125-000001 code=1345…2101 ¥12.50 Some(WeChat)
                       (next timeout 60.000)
            [   0.000] pay reply #1 Unknown
                       journal #1 unknown (deferred) pays=1 queries=0 next_poll=2.000 note="pay outcome unknown: timed out after 10 s"
                       report #1 unknown
                       show Checking { amount: Fen(1250) }
                       (next timeout 2.000)
            [   0.000] notify #1 10000 - WAIT_BUYER_PAY
                       journal #1 unknown pays=1 queries=0 next_poll=2.000 note="pay outcome unknown: timed out after 10 s"
                       (next timeout 2.000)
            [   0.000] notify #1 40004 INSUFFICIENT TRADE_FAIL
                       journal #1 failed pays=1 queries=0 note="pay outcome unknown: timed out after 10 s"
                       report #1 failed err=INSUFFICIENT des="balance too low"
                       show Failed { amount: Fen(1250), err_code: Some("INSUFFICIENT"), reason: "balance too low" }
            [   0.000] notify #1 10000 SUCCESS TRADE_SUCCESS
                       -> error: callback for order POS1-20261125-000001, which this terminal is not resolving (finished long ago or another terminal's); ignored
        "#]],
    );
}

#[test]
fn a_paid_answer_or_callback_without_the_order_or_the_amount_is_not_trusted() {
    let without = |out_trade_no, total_amount| Answer::PaidWithout {
        out_trade_no,
        total_amount,
    };
    check(
        &[
            Arm(1250),
            Scan(WECHAT),
            // A genuine answer replayed with its keys' case changed reads like this.
            Reply(without(true, true)),
            Wait,
            Reply(without(false, true)),
            Wait,
            Reply(waiting()),
            // A signed callback without total_amount while the gateway says WAIT_BUYER_PAY.
            Notify(without(false, true)),
            Wait,
            Reply(without(true, false)),
            Wait,
            Reply(paid()),
        ],
        expect![[r#"
            [   0.000] start
                       show Ready
            [   0.000] arm ¥12.50
                       -> ok POS1-20261125-000001
                       journal #1 armed pays=0 queries=0
                       report #1 armed
                       show Armed { amount: Fen(1250), subject: "Coffee" }
            [   0.000] scan 1345…2101
                       journal #1 submitting code=1345…2101 pays=1 queries=0
                       report #1 submitting
                       show Processing { amount: Fen(1250) }
                       send pay #1 POS1-20261125-000001 code=1345…2101 ¥12.50 Some(WeChat)
                       (next timeout 60.000)
            [   0.000] pay reply #1 paid without out_trade_no and total_amount
                       journal #1 unknown pays=1 queries=0 next_poll=2.000 note="a paid answer without out_trade_no is not trusted"
                       report #1 unknown
                       show Checking { amount: Fen(1250) }
                       (next timeout 2.000)
            [   2.000] timeout
                       send query #1
                       (next timeout 60.000)
            [   2.000] query reply #1 paid without total_amount
                       (next timeout 5.000)
            [   5.000] timeout
                       send query #1
                       (next timeout 60.000)
            [   5.000] query reply #1 10000 - WAIT_BUYER_PAY
                       journal #1 waiting_customer (deferred) pays=1 queries=2 next_poll=8.000 note="a paid answer without total_amount is not trusted"
                       report #1 waiting_customer
                       show WaitingCustomer { amount: Fen(1250), seconds_left: 55 }
                       (next timeout 8.000)
            [   5.000] notify #1 paid without total_amount
                       (next timeout 8.000)
            [   8.000] timeout
                       send query #1
                       (next timeout 60.000)
            [   8.000] query reply #1 paid without out_trade_no
                       (next timeout 11.000)
            [  11.000] timeout
                       send query #1
                       (next timeout 60.000)
            [  11.000] query reply #1 10000 SUCCESS TRADE_SUCCESS
                       journal #1 paid pays=1 queries=4 note="a paid answer without out_trade_no is not trusted"
                       report #1 paid trade_no=2026112522001400001234
                       show Paid { amount: Fen(1250), payway: Some(WeChat), trade_no_tail: "001234" }
        "#]],
    );
}

#[test]
fn a_paid_answer_for_another_amount_is_not_trusted() {
    check(
        &[
            Arm(1250),
            Scan(WECHAT),
            Reply(Answer::PaidAmount(1)),
            Wait,
            Reply(Answer::PaidAmount(125_000)),
            Wait,
            Reply(Answer::PaidAmount(1250)),
        ],
        expect![[r#"
            [   0.000] start
                       show Ready
            [   0.000] arm ¥12.50
                       -> ok POS1-20261125-000001
                       journal #1 armed pays=0 queries=0
                       report #1 armed
                       show Armed { amount: Fen(1250), subject: "Coffee" }
            [   0.000] scan 1345…2101
                       journal #1 submitting code=1345…2101 pays=1 queries=0
                       report #1 submitting
                       show Processing { amount: Fen(1250) }
                       send pay #1 POS1-20261125-000001 code=1345…2101 ¥12.50 Some(WeChat)
                       (next timeout 60.000)
            [   0.000] pay reply #1 paid ¥0.01
                       journal #1 unknown pays=1 queries=0 next_poll=2.000 note="answer says ¥0.01 paid, the sale is ¥12.50"
                       report #1 unknown
                       show Checking { amount: Fen(1250) }
                       (next timeout 2.000)
            [   2.000] timeout
                       send query #1
                       (next timeout 60.000)
            [   2.000] query reply #1 paid ¥1250.00
                       (next timeout 5.000)
            [   5.000] timeout
                       send query #1
                       (next timeout 60.000)
            [   5.000] query reply #1 paid ¥12.50
                       journal #1 paid pays=1 queries=2 note="answer says ¥1250.00 paid, the sale is ¥12.50"
                       report #1 paid trade_no=2026112522001400001234
                       show Paid { amount: Fen(1250), payway: Some(WeChat), trade_no_tail: "001234" }
        "#]],
    );
}

// ----- customer scans merchant (QR): `Engine::arm_qr` -----

const PAY_PAGE: &str = "http://gw.example/getway/";

/// Logs an input line the way the transcript driver does.
fn log_input(sim: &mut Sim, text: &str) {
    use std::fmt::Write as _;
    let secs = (sim.now.0 - T0) as f64 / 1000.0;
    writeln!(sim.log, "[{secs:8.3}] {text}").unwrap();
}

/// A QR sale of `fen` through `Engine::arm_qr`, whose pay-page closure answers `page`
/// (the URL gets the order number appended, as a real page would carry it).
fn arm_qr(sim: &mut Sim, fen: u64, page: Result<&str, &str>) {
    log_input(sim, &format!("arm qr {}", Fen(fen)));
    let mut asked_for = None;
    let result = sim.engine.arm_qr(
        Fen(fen),
        "Coffee".into(),
        "001".into(),
        |out_trade_no| {
            asked_for = Some(out_trade_no.to_string());
            page.map(|url| format!("{url}?out_trade_no={out_trade_no}"))
                .map_err(str::to_string)
        },
        sim.now,
    );
    let mut text = format!("           -> page asked for {asked_for:?}\n");
    match result {
        Ok(view) => {
            text.push_str(&format!("           -> ok {}\n", view.sale_id));
            sim.last_armed = Some(view.sale_id);
        }
        Err(e) => text.push_str(&format!("           -> error: {e}\n")),
    }
    sim.log.push_str(&text);
    sim.drain();
}

/// Like `check`, for a script that starts with a QR sale.
fn check_qr(page: Result<&str, &str>, script: &[Step], expected: Expect) {
    let mut sim = Sim::new(EnginePolicy::default());
    arm_qr(&mut sim, 1250, page);
    sim.run(script);
    expected.assert_eq(&sim.log);
}

#[test]
fn qr_sale_waits_through_order_not_found_then_is_paid_by_query() {
    // Until the customer opens the page the gateway has no order: ORDER_NOTFOUND means
    // "not paid yet", and the page stays on the display.
    check_qr(
        Ok(PAY_PAGE),
        &[
            Wait,
            Reply(not_found()),
            Wait,
            Reply(not_found()),
            Wait,
            Reply(waiting()),
            Wait,
            Reply(paid()),
            Arm(300),
        ],
        expect![[r#"
            [   0.000] start
                       show Ready
            [   0.000] arm qr ¥12.50
                       -> page asked for Some("POS1-20261125-000001")
                       -> ok POS1-20261125-000001
                       journal #1 waiting_customer pays=0 queries=0 next_poll=2.000
                       report #1 waiting_customer
                       show PayQr { amount: Fen(1250), url: "http://gw.example/getway/?out_trade_no=POS1-20261125-000001" }
                       (next timeout 2.000)
            [   2.000] timeout
                       send query #1
                       (next timeout 60.000)
            [   2.000] query reply #1 40004 ORDER_NOTFOUND -
                       (next timeout 5.000)
            [   5.000] timeout
                       send query #1
                       (next timeout 60.000)
            [   5.000] query reply #1 40004 ORDER_NOTFOUND -
                       (next timeout 8.000)
            [   8.000] timeout
                       send query #1
                       (next timeout 60.000)
            [   8.000] query reply #1 10000 - WAIT_BUYER_PAY
                       show PayQr { amount: Fen(1250), url: "http://gw.example/getway/?out_trade_no=POS1-20261125-000001" }
                       (next timeout 11.000)
            [  11.000] timeout
                       send query #1
                       (next timeout 60.000)
            [  11.000] query reply #1 10000 SUCCESS TRADE_SUCCESS
                       journal #1 paid pays=0 queries=4
                       report #1 paid trade_no=2026112522001400001234
                       show Paid { amount: Fen(1250), payway: None, trade_no_tail: "001234" }
            [  11.000] arm ¥3.00
                       -> ok POS1-20261125-000002
                       journal #2 armed pays=0 queries=0
                       report #2 armed
                       show Armed { amount: Fen(300), subject: "Coffee" }
        "#]],
    );
}

#[test]
fn qr_sale_past_the_deadline_is_unresolved_and_a_late_payment_is_found() {
    check_qr(
        Ok(PAY_PAGE),
        &[
            RunFor(59_000, not_found()),
            // The cashier's deadline: the page goes, the counter is free.
            Wait,
            Arm(800),
            Wait,
            Reply(not_found()),
            Wait,
            Reply(paid()),
        ],
        expect![[r#"
            [   0.000] start
                       show Ready
            [   0.000] arm qr ¥12.50
                       -> page asked for Some("POS1-20261125-000001")
                       -> ok POS1-20261125-000001
                       journal #1 waiting_customer pays=0 queries=0 next_poll=2.000
                       report #1 waiting_customer
                       show PayQr { amount: Fen(1250), url: "http://gw.example/getway/?out_trade_no=POS1-20261125-000001" }
                       (next timeout 2.000)
            [  59.000] (ran 59.000 s answering 40004 ORDER_NOTFOUND -: 20 requests sent)
                       (next timeout 60.000)
            [  60.000] timeout
                       journal #1 unresolved (deferred) pays=0 queries=20 next_poll=90.000
                       report #1 unresolved
                       show Checking { amount: Fen(1250) }
                       (next timeout 90.000)
            [  60.000] arm ¥8.00
                       -> ok POS1-20261125-000002
                       journal #2 armed pays=0 queries=0
                       report #2 armed
                       show Armed { amount: Fen(800), subject: "Coffee" }
                       (next timeout 90.000)
            [  90.000] timeout
                       send query #1
            [  90.000] query reply #1 40004 ORDER_NOTFOUND -
                       (next timeout 120.000)
            [ 120.000] timeout
                       send query #1
            [ 120.000] query reply #1 10000 SUCCESS TRADE_SUCCESS
                       journal #1 paid pays=0 queries=22
                       report #1 paid trade_no=2026112522001400001234
        "#]],
    );
}

#[test]
fn qr_sale_restarted_while_waiting_shows_the_page_again_and_keeps_asking() {
    check_qr(
        Ok(PAY_PAGE),
        &[
            Wait,
            Reply(not_found()),
            Restart(1_000),
            Reply(not_found()),
            Wait,
            Reply(paid()),
        ],
        expect![[r#"
            [   0.000] start
                       show Ready
            [   0.000] arm qr ¥12.50
                       -> page asked for Some("POS1-20261125-000001")
                       -> ok POS1-20261125-000001
                       journal #1 waiting_customer pays=0 queries=0 next_poll=2.000
                       report #1 waiting_customer
                       show PayQr { amount: Fen(1250), url: "http://gw.example/getway/?out_trade_no=POS1-20261125-000001" }
                       (next timeout 2.000)
            [   2.000] timeout
                       send query #1
                       (next timeout 60.000)
            [   2.000] query reply #1 40004 ORDER_NOTFOUND -
                       (next timeout 5.000)
            [   2.000] crash
            [   3.000] restart (1 unfinished, last_seq 1)
                       show Ready
                       show PayQr { amount: Fen(1250), url: "http://gw.example/getway/?out_trade_no=POS1-20261125-000001" }
                       send query #1
                       (next timeout 60.000)
            [   3.000] query reply #1 40004 ORDER_NOTFOUND -
                       (next timeout 6.000)
            [   6.000] timeout
                       send query #1
                       (next timeout 60.000)
            [   6.000] query reply #1 10000 SUCCESS TRADE_SUCCESS
                       journal #1 paid pays=0 queries=2
                       report #1 paid trade_no=2026112522001400001234
                       show Paid { amount: Fen(1250), payway: None, trade_no_tail: "001234" }
        "#]],
    );
}

#[test]
fn qr_pay_page_failure_refuses_the_sale_and_keeps_its_order_number() {
    // Nothing journaled, nothing shown but Ready, and the number goes to the next sale.
    check_qr(
        Err("subject is too long for the pay page"),
        &[Arm(500)],
        expect![[r#"
            [   0.000] start
                       show Ready
            [   0.000] arm qr ¥12.50
                       -> page asked for Some("POS1-20261125-000001")
                       -> error: cannot make the pay page for a QR sale: subject is too long for the pay page
            [   0.000] arm ¥5.00
                       -> ok POS1-20261125-000001
                       journal #1 armed pays=0 queries=0
                       report #1 armed
                       show Armed { amount: Fen(500), subject: "Coffee" }
        "#]],
    );
    // The same, read as the typed error the driver maps to the register's answer.
    let mut engine = Engine::new(EnginePolicy::default(), Timestamp(T0)).unwrap();
    let refused = engine.arm_qr(
        Fen(1250),
        "Coffee".into(),
        "001".into(),
        |_| Err("no page".to_string()),
        Timestamp(T0),
    );
    assert!(
        matches!(refused, Err(ArmRefusal::PayPage { ref reason }) if reason == "no page"),
        "{refused:?}"
    );
    assert_eq!(engine.last_seq(), 0);
    assert!(engine.counter_sale().is_none());
}

#[test]
fn a_kiosk_arms_its_sale_whenever_the_counter_is_free_on_the_engines_clock() {
    // The first sale at once; the next one 5 s after the counter is free again (the result
    // stays on the screen meanwhile), not while a sale is at the counter: the re-arm is one
    // of the engine's timers, so `poll_timeout` says when.
    check(
        &[
            Kiosk(500),
            Scan(WECHAT),
            Advance(2_000),
            Reply(paid()),
            Advance(4_000),
            Wait,
            Disarm,
            Wait,
        ],
        expect![[r#"
            [   0.000] start
                       show Ready
            [   0.000] kiosk ¥5.00
                       journal #1 armed pays=0 queries=0
                       report #1 armed
                       show Armed { amount: Fen(500), subject: "Coffee" }
            [   0.000] scan 1345…2101
                       journal #1 submitting code=1345…2101 pays=1 queries=0
                       report #1 submitting
                       show Processing { amount: Fen(500) }
                       send pay #1 POS1-20261125-000001 code=1345…2101 ¥5.00 Some(WeChat)
                       (next timeout 60.000)
            [   2.000] (advanced 2.000 s)
                       (next timeout 60.000)
            [   2.000] pay reply #1 10000 SUCCESS TRADE_SUCCESS
                       journal #1 paid pays=1 queries=0
                       report #1 paid trade_no=2026112522001400001234
                       show Paid { amount: Fen(500), payway: Some(WeChat), trade_no_tail: "001234" }
                       (next timeout 7.000)
            [   6.000] (advanced 4.000 s)
                       (next timeout 7.000)
            [   7.000] timeout
                       journal #2 armed pays=0 queries=0
                       report #2 armed
                       show Armed { amount: Fen(500), subject: "Coffee" }
            [   7.000] disarm #2
                       -> ok disarmed
                       journal #2 disarmed pays=0 queries=0
                       report #2 disarmed
                       show Ready
                       (next timeout 12.000)
            [  12.000] timeout
                       journal #3 armed pays=0 queries=0
                       report #3 armed
                       show Armed { amount: Fen(500), subject: "Coffee" }
        "#]],
    );
}

#[test]
fn a_kiosk_that_cannot_arm_its_sale_tries_again_on_its_timer() {
    check(
        &[Kiosk(0), Wait, Wait],
        expect![[r#"
        [   0.000] start
                   show Ready
        [   0.000] kiosk ¥0.00
                   kiosk not armed: amount ¥0.00 is zero; a sale needs at least ¥0.01
                   (next timeout 5.000)
        [   5.000] timeout
                   kiosk not armed: amount ¥0.00 is zero; a sale needs at least ¥0.01
                   (next timeout 10.000)
        [  10.000] timeout
                   kiosk not armed: amount ¥0.00 is zero; a sale needs at least ¥0.01
                   (next timeout 15.000)
    "#]],
    );
}

/// The not-found rule (engine/answers.rs): the pay's answer was lost, every query since says
/// ORDER_NOTFOUND (a query lost on the way neither counts nor rules out); the first such
/// answer 300 s after the pay ends the sale failed. It is still checked at the slow pace,
/// and a success found then is paid, late, with the wallet the answer names.
#[test]
fn a_pay_the_gateway_never_received_ends_failed_after_the_window() {
    check(
        &[
            Arm(1250),
            Scan(OTHER),
            Reply(Answer::Unknown),
            Wait,
            Reply(Answer::Unknown),
            // The cashier's 60 s, then the first 240 s of background checks.
            RunFor(293_000, not_found()),
            Wait,
            Reply(not_found()),
            Wait,
            Reply(not_found()),
            // The slow pace: 5 min.
            Wait,
            Reply(not_found()),
            Wait,
            Reply(Answer::PaidVia("1")),
        ],
        expect![[r#"
            [   0.000] start
                       show Ready
            [   0.000] arm ¥12.50
                       -> ok POS1-20261125-000001
                       journal #1 armed pays=0 queries=0
                       report #1 armed
                       show Armed { amount: Fen(1250), subject: "Coffee" }
            [   0.000] scan 6212…8901
                       journal #1 submitting code=6212…8901 pays=1 queries=0
                       report #1 submitting
                       show Processing { amount: Fen(1250) }
                       send pay #1 POS1-20261125-000001 code=6212…8901 ¥12.50 None
                       (next timeout 60.000)
            [   0.000] pay reply #1 Unknown
                       journal #1 unknown (deferred) pays=1 queries=0 next_poll=2.000 note="pay outcome unknown: timed out after 10 s"
                       report #1 unknown
                       show Checking { amount: Fen(1250) }
                       (next timeout 2.000)
            [   2.000] timeout
                       send query #1
                       (next timeout 60.000)
            [   2.000] query reply #1 Unknown
                       (next timeout 5.000)
            [ 295.000] (ran 293.000 s answering 40004 ORDER_NOTFOUND -: 26 requests sent)
                       (next timeout 300.000)
            [ 300.000] timeout
                       send query #1
            [ 300.000] query reply #1 40004 ORDER_NOTFOUND -
                       journal #1 failed pays=1 queries=28 next_poll=600.000 CHECKING note="ended by the not-found rule; still checked in the background until the reconciliation window ends"
                       report #1 failed err=ORDER_NOTFOUND des="the gateway never received this payment (order not found 300 s after the last attempt): nothing was charged"
                       (next timeout 600.000)
            [ 600.000] timeout
                       send query #1
            [ 600.000] query reply #1 40004 ORDER_NOTFOUND -
                       (next timeout 900.000)
            [ 900.000] timeout
                       send query #1
            [ 900.000] query reply #1 40004 ORDER_NOTFOUND -
                       (next timeout 1200.000)
            [1200.000] timeout
                       send query #1
            [1200.000] query reply #1 paid paytype=1
                       journal #1 paid pays=1 queries=31 LATE note="the gateway's own answer came after the not-found rule"
                       report #1 paid trade_no=2026112522001400001234 late
        "#]],
    );
}

#[test]
fn any_other_answer_since_the_pay_rules_the_not_found_rule_out() {
    check(
        &[
            Arm(1250),
            Scan(WECHAT),
            Reply(Answer::Unknown),
            Wait,
            // The gateway has the order: its later ORDER_NOTFOUND cannot be believed.
            Reply(userpaying()),
            RunFor(600_000, not_found()),
            Wait,
            Reply(not_found()),
            // FREQUENTLY: the gateway could not tell; the rule is out too.
            Arm(900),
            Scan(ALIPAY),
            Reply(Answer::Unknown),
            Wait,
            Reply(frequently()),
            RunFor(400_000, not_found()),
            Wait,
            Reply(not_found()),
        ],
        expect![[r#"
            [   0.000] start
                       show Ready
            [   0.000] arm ¥12.50
                       -> ok POS1-20261125-000001
                       journal #1 armed pays=0 queries=0
                       report #1 armed
                       show Armed { amount: Fen(1250), subject: "Coffee" }
            [   0.000] scan 1345…2101
                       journal #1 submitting code=1345…2101 pays=1 queries=0
                       report #1 submitting
                       show Processing { amount: Fen(1250) }
                       send pay #1 POS1-20261125-000001 code=1345…2101 ¥12.50 Some(WeChat)
                       (next timeout 60.000)
            [   0.000] pay reply #1 Unknown
                       journal #1 unknown (deferred) pays=1 queries=0 next_poll=2.000 note="pay outcome unknown: timed out after 10 s"
                       report #1 unknown
                       show Checking { amount: Fen(1250) }
                       (next timeout 2.000)
            [   2.000] timeout
                       send query #1
                       (next timeout 60.000)
            [   2.000] query reply #1 40004 USERPAYING -
                       journal #1 waiting_customer pays=1 queries=1 next_poll=5.000 note="pay outcome unknown: timed out after 10 s"
                       report #1 waiting_customer
                       show WaitingCustomer { amount: Fen(1250), seconds_left: 58 }
                       (next timeout 5.000)
            [ 602.000] (ran 600.000 s answering 40004 ORDER_NOTFOUND -: 37 requests sent)
                       (next timeout 630.000)
            [ 630.000] timeout
                       send query #1
            [ 630.000] query reply #1 40004 ORDER_NOTFOUND -
                       (next timeout 660.000)
            [ 630.000] arm ¥9.00
                       -> ok POS1-20261125-000002
                       journal #2 armed pays=0 queries=0
                       report #2 armed
                       show Armed { amount: Fen(900), subject: "Coffee" }
                       (next timeout 660.000)
            [ 630.000] scan 2845…2101
                       journal #2 submitting code=2845…2101 pays=1 queries=0
                       report #2 submitting
                       show Processing { amount: Fen(900) }
                       send pay #2 POS1-20261125-000002 code=2845…2101 ¥9.00 Some(Alipay)
                       (next timeout 660.000)
            [ 630.000] pay reply #2 Unknown
                       journal #2 unknown (deferred) pays=1 queries=0 next_poll=632.000 note="pay outcome unknown: timed out after 10 s"
                       report #2 unknown
                       show Checking { amount: Fen(900) }
                       (next timeout 632.000)
            [ 632.000] timeout
                       send query #2
                       (next timeout 660.000)
            [ 632.000] query reply #2 40004 FREQUENTLY -
                       journal #2 unknown pays=1 queries=1 next_poll=638.000 note="FREQUENTLY"
                       (next timeout 638.000)
            [1032.000] (ran 400.000 s answering 40004 ORDER_NOTFOUND -: 40 requests sent)
                       (next timeout 1050.000)
            [1050.000] timeout
                       send query #2
                       (next timeout 1260.000)
            [1050.000] query reply #2 40004 ORDER_NOTFOUND -
                       (next timeout 1080.000)
        "#]],
    );
}

#[test]
fn the_not_found_window_and_its_checks_survive_a_restart() {
    check(
        &[
            Arm(1250),
            Scan(WECHAT),
            Reply(Answer::Unknown),
            RunFor(200_000, not_found()),
            // Down for 50 s: the window still counts from the pay, not from the restart.
            Restart(50_000),
            RunFor(49_000, not_found()),
            Wait,
            Reply(not_found()),
            Wait,
            Reply(not_found()),
            // Failed, checked in the background: a restart goes on checking it.
            Restart(1_000),
            Reply(not_found()),
            // Until the reconciliation window (24 h from the cashier's deadline) ends; then
            // the engine forgets it, and a callback finds nothing to settle.
            RunFor(86_460_000 - 611_000 - 1_000, not_found()),
            Wait,
            Wait,
            Notify(paid()),
        ],
        expect![[r#"
            [   0.000] start
                       show Ready
            [   0.000] arm ¥12.50
                       -> ok POS1-20261125-000001
                       journal #1 armed pays=0 queries=0
                       report #1 armed
                       show Armed { amount: Fen(1250), subject: "Coffee" }
            [   0.000] scan 1345…2101
                       journal #1 submitting code=1345…2101 pays=1 queries=0
                       report #1 submitting
                       show Processing { amount: Fen(1250) }
                       send pay #1 POS1-20261125-000001 code=1345…2101 ¥12.50 Some(WeChat)
                       (next timeout 60.000)
            [   0.000] pay reply #1 Unknown
                       journal #1 unknown (deferred) pays=1 queries=0 next_poll=2.000 note="pay outcome unknown: timed out after 10 s"
                       report #1 unknown
                       show Checking { amount: Fen(1250) }
                       (next timeout 2.000)
            [ 200.000] (ran 200.000 s answering 40004 ORDER_NOTFOUND -: 24 requests sent)
                       (next timeout 210.000)
            [ 200.000] crash
            [ 250.000] restart (1 unfinished, last_seq 1)
                       show Ready
                       send query #1
            [ 299.000] (ran 49.000 s answering 40004 ORDER_NOTFOUND -: 1 requests sent)
                       (next timeout 310.000)
            [ 310.000] timeout
                       send query #1
            [ 310.000] query reply #1 40004 ORDER_NOTFOUND -
                       journal #1 failed pays=1 queries=23 next_poll=610.000 CHECKING note="ended by the not-found rule; still checked in the background until the reconciliation window ends"
                       report #1 failed err=ORDER_NOTFOUND des="the gateway never received this payment (order not found 300 s after the last attempt): nothing was charged"
                       (next timeout 610.000)
            [ 610.000] timeout
                       send query #1
            [ 610.000] query reply #1 40004 ORDER_NOTFOUND -
                       (next timeout 910.000)
            [ 610.000] crash
            [ 611.000] restart (1 unfinished, last_seq 1)
                       show Ready
                       send query #1
            [ 611.000] query reply #1 40004 ORDER_NOTFOUND -
                       (next timeout 911.000)
            [86459.000] (ran 85848.000 s answering 40004 ORDER_NOTFOUND -: 286 requests sent)
                       (next timeout 86711.000)
            [86711.000] timeout
                       journal #1 failed pays=1 queries=310 note="never found at the gateway for the whole reconciliation window"
            [86711.000] wait: nothing scheduled
            [86711.000] notify #1 10000 SUCCESS TRADE_SUCCESS
                       -> error: callback for order POS1-20261125-000001, which this terminal is not resolving (finished long ago or another terminal's); ignored
        "#]],
    );
}

#[test]
fn a_callback_after_the_not_found_rule_is_taken_late() {
    check(
        &[
            Arm(1250),
            Scan(WECHAT),
            Reply(Answer::Unknown),
            RunFor(300_000, not_found()),
            Wait,
            Reply(not_found()),
            Notify(paid()),
        ],
        expect![[r#"
            [   0.000] start
                       show Ready
            [   0.000] arm ¥12.50
                       -> ok POS1-20261125-000001
                       journal #1 armed pays=0 queries=0
                       report #1 armed
                       show Armed { amount: Fen(1250), subject: "Coffee" }
            [   0.000] scan 1345…2101
                       journal #1 submitting code=1345…2101 pays=1 queries=0
                       report #1 submitting
                       show Processing { amount: Fen(1250) }
                       send pay #1 POS1-20261125-000001 code=1345…2101 ¥12.50 Some(WeChat)
                       (next timeout 60.000)
            [   0.000] pay reply #1 Unknown
                       journal #1 unknown (deferred) pays=1 queries=0 next_poll=2.000 note="pay outcome unknown: timed out after 10 s"
                       report #1 unknown
                       show Checking { amount: Fen(1250) }
                       (next timeout 2.000)
            [ 300.000] (ran 300.000 s answering 40004 ORDER_NOTFOUND -: 28 requests sent)
                       (next timeout 600.000)
            [ 600.000] timeout
                       send query #1
            [ 600.000] query reply #1 40004 ORDER_NOTFOUND -
                       (next timeout 900.000)
            [ 600.000] notify #1 10000 SUCCESS TRADE_SUCCESS
                       journal #1 paid pays=1 queries=29 LATE note="the gateway's own answer came after the not-found rule"
                       report #1 paid trade_no=2026112522001400001234 late
        "#]],
    );
}

/// A QR sale sends no pay: ORDER_NOTFOUND is "not paid yet" however long it lasts, and the
/// wallet of a sale paid on the page comes from the answer's `paytype`.
#[test]
fn qr_sale_is_never_ended_by_the_not_found_rule_and_shows_the_wallet_it_was_paid_with() {
    check_qr(
        Ok(PAY_PAGE),
        &[
            RunFor(400_000, not_found()),
            Wait,
            Reply(Answer::PaidVia("3")),
        ],
        expect![[r#"
            [   0.000] start
                       show Ready
            [   0.000] arm qr ¥12.50
                       -> page asked for Some("POS1-20261125-000001")
                       -> ok POS1-20261125-000001
                       journal #1 waiting_customer pays=0 queries=0 next_poll=2.000
                       report #1 waiting_customer
                       show PayQr { amount: Fen(1250), url: "http://gw.example/getway/?out_trade_no=POS1-20261125-000001" }
                       (next timeout 2.000)
            [ 400.000] (ran 400.000 s answering 40004 ORDER_NOTFOUND -: 31 requests sent)
                       (next timeout 420.000)
            [ 420.000] timeout
                       send query #1
            [ 420.000] query reply #1 paid paytype=3
                       journal #1 paid pays=0 queries=32
                       report #1 paid trade_no=2026112522001400001234
        "#]],
    );
}
