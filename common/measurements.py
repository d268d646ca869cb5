"""The InfluxDB data model that the worker writes and dashboards read: the contract.

All rates are fractions in [0, 1] (Grafana unit ``percentunit``) and are written
only when their denominator is non-zero; the counts they derive from are always
written beside them, so any roll-up (a province, a former district) is computed as
``sum(numerator) / sum(denominator)``, never as an average of rates.

Tags common to unit series (``UNIT_TAGS``):
  province_code   2-digit province code ("82")
  unit_code       the receiving unit: ward code, or district/department code ("28261", "815")
  unit_level      ward | district | department | other
  unit_name       exact Vietnamese name ("Phường Mỹ Tho"); written verbatim and read back byte for byte
                  (schemas/line_protocol.py: the registry refuses names InfluxDB cannot hold)
  ward_code       only when the unit is a ward
  district_code   only for pre-2025 history events that carried one

Measurements
------------
``unit_rates`` (tỷ lệ theo đơn vị) — tags UNIT_TAGS + ``window``:
  window = 24h | 7d | 30d (rolling, event time) | month | year (calendar, Asia/Ho_Chi_Minh)
           | report_year (annual reporting period, from GOVPULSE_REPORT_YEAR_START, default 15 Dec)
           | report_month, report_quarter, report_half (the other legal report periods of Decree
             09/2019, from the same start day: 15th–14th, Q1 = 15 Dec–14 Mar, H1 = 15 Dec–14 Jun)
  time   = window start for the calendar and report periods; the "as of" instant (end of the step:
           every hour for 24h, every day for 7d/30d) for rolling windows.
  A later snapshot of the same window overwrites the earlier one (same series, same time).
  fields: COUNT_FIELDS (int) and RATE_FIELDS (float, only when defined). Citizen feedback (PAKN)
  counts at their own times: feedback_received at received_at, feedback_handled_* at handled_at,
  feedback_ratings_* at rated_at.
  Calendar windows carry every count. Rolling windows carry the rate denominators always and
  other counts only when non-zero (a missing count is 0: queries should fill it); a point over a
  bucket that lost a contribution is rewritten with every count. The rolling step in progress
  (end of the current hour/day) is written too and overwritten as the clock moves.

``open_dossiers`` (hồ sơ đang giải quyết) — tags UNIT_TAGS; time = the hour (watermark/now)
  fields: open, overdue, due_soon, overdue_without_apology (int)

``dossier_alerts`` (cảnh báo hồ sơ) — tags UNIT_TAGS + kind, procedure_code (``-`` when unknown)
  One point per alert; series = units × kinds × procedures in use, bounded by the procedure
  catalogue and independent of the number of dossiers (the dossier is a field: as a tag it made
  every alert its own series, millions for the country; Mỹ Tho 2022 has 3,037 alerts in 56 series,
  232 series in the bucket, which would be 3,213 with the tag: test_dashboard_queries).
  kind = dossier_overdue | dossier_due_soon | apology_missing
  time = the instant the alert is due: due_at (overdue), due_at - lead (due soon),
         due_at + apology grace (apology missing), to the millisecond, identical across replays;
         plus 0..999,999 ns that keep alerts of one unit at one millisecond distinct points (many
         dossiers fall due at 17:00:00.000 of one day): a hash of the dossier id, probing upward
         if another alert of the unit has it, chosen when the alert fires and kept in the dossier's
         record, so restarts, rebuilds and rebalances write the point where it was. Read the
         instant to the millisecond; never select a dossier by ``_time``, select it by dossier_id.
  fields: dossier_id (mã hồ sơ, string), due_at (RFC 3339 string), late_seconds (int, how late at
          that instant, <0 = still early), field (lĩnh vực, string), apology_sent (bool),
          resolved (bool), resolved_at (string, optional)
  Read as one row per alert: ``pivot(rowKey: ["_time"], columnKey: ["_field"], ...)`` per series.
  Updated in place (same series and time) when the dossier is later resolved or apologised for.
  Points written before this layout (a dossier_id tag) are other series, which queries would read
  beside the new ones: when upgrading, delete the measurement once over all time (predicate
  ``_measurement="dossier_alerts"``) before starting the new worker; its rebuild writes every alert
  again, in this layout.

``feedback_alerts`` (cảnh báo phản ánh, kiến nghị quá hạn) — tags UNIT_TAGS + kind, subject; the item in field
  feedback_id (series do not grow with the number of items; as for dossier_alerts, each point keeps a
  nanosecond within its millisecond, unique per unit)
  kind = feedback_overdue (an open feedback item, received and not handled, past its due date)
  subject = the item's FeedbackSubject (``-`` when its reception was not seen)
  time = the item's due_at plus its nanosecond within that millisecond; identical across replays.
  fields: due_at (RFC 3339 string), late_seconds (int, how late at that instant), field (lĩnh vực,
          string, ``-`` if none), handled (bool), handled_at (string, optional), feedback_id (string)
  Updated in place (same series and time) when the item is later handled. No personal data.

``report_counts`` (số liệu báo cáo định kỳ) — tags UNIT_TAGS + ``field`` (lĩnh vực) + ``procedure_code``
  (mã TTHC) + ``channel`` (reception channel and online-service level: online_full — toàn trình —,
  online_partial — một phần —, in_person, postal; ``online`` when only a resolution said online);
  ``-`` when the events did not say (a resolution read without its reception). No ``window``
  tag: time = the local day (start of the day, Asia/Ho_Chi_Minh), so every calendar and report period,
  whatever GOVPULSE_REPORT_YEAR_START says, is a sum of days, and a report can be asked for any period.
  Dossiers only. fields: REPORT_FIELDS (int), flows on that day, written sparse (only non-zero ones;
  all of them when a correction took a contribution away, so a stale value never survives):
    received_online, received_in_person, received_postal, received_unknown_channel   (a dossier's
        reception, once: from its reception event, else from the received_at its resolution carries)
    resolved_early, resolved_on_time, resolved_late, withdrawn, refused   (its closure, once: the
        resolution if any, else the withdrawal, else the refusal; never before its reception)
    overdue_started, overdue_ended   (it became overdue while open: due date in force passed; it was
        closed or got a later due date while overdue)
  The period report's stocks are sums of flows before an instant T (a period's start or end):
    open at T (đang giải quyết)      = received - resolved - withdrawn - refused, summed over days < T
    overdue at T (quá hạn)           = overdue_started - overdue_ended, summed over days < T
    carried over (kỳ trước chuyển qua) = open at the period start; in process at the end = open at its end
  so carried over + received = resolved + withdrawn + refused + in process at the end, exactly, for
  every row. A late event rewrites the days it touches: a report asked for again shows the corrected
  period and the corrected carried-over figure of the next one (dashboards.queries.period_report).
  Not for rolling windows; series (as influxdb.cardinality() counts them) = units × (field, procedure,
  channel) combinations in use, which does not grow with dossiers or time (README: the periodic report).

``feedback_flows`` (luồng phản ánh, kiến nghị theo ngày) — tags UNIT_TAGS; time = the local day (start of
  the day, Asia/Ho_Chi_Minh), as report_counts: every calendar and report period is a sum of days.
  Citizen feedback (PAKN) only. fields: FEEDBACK_FLOW_FIELDS (int), flows on that day, written sparse
  (only non-zero ones; all of them when a correction took a contribution away, so a stale value never
  survives):
    received          an item's reception, once: at its received_at (from its reception event, else from
                      the received_at its handling carries)
    handled           its handling, once, never before its reception (a handling stamped earlier counts
                      at the reception instant); early / on time / late is unit_rates' business
                      (feedback_handled_* at handled_at): one definition of each
    overdue_started   it became overdue while open: at its due date + 1 ms (handled exactly at due_at is
                      on time); the due date is the reception's (the one feedback_overdue watches), the
                      handling's only when the reception was not read
    overdue_ended     it was handled while overdue
  Stocks at an instant T (a period's end) are sums of flows over days < T:
    open at T (đang xử lý)              = received - handled
    open and overdue at T (quá hạn)     = overdue_started - overdue_ended
    open within due at T (trong hạn)    = the difference
  so open at the start + received in the period = handled in the period + open at the end, exactly. A
  late event rewrites the days it touches; a worker that rebuilds a record rewrites, in full, every day an
  earlier state of it could have touched. Read by ``govpulse index`` for criteria 5.2 and 5.3 of
  Decision 766 (dashboards.queries.feedback_stock). Series = units; no personal data.

``service_index`` (chỉ số phục vụ người dân, doanh nghiệp, Decision 766/QĐ-TTg) — written by
  ``govpulse index`` (not the worker) from report_counts, feedback_flows and unit_rates, see streams/domain/service_index.py
  and docs/decision-766.md. tags: ``province_code``, ``unit_code`` (the unit, or the district / province
  code of a roll-up), ``unit_name``, ``scope`` (unit | district | province), ``window`` (the period's
  window: month, year, report_month, report_quarter, report_half, report_year), ``group`` ("1".."5", or
  "total"), ``criterion`` (the annex's id "2.1", a govpulse indicator's id such as "on_time_rate",
  "group" for the group's row, "total" for the index's row), ``name`` (Vietnamese name).
  time = the period's start. Asked again, a period's points are overwritten (same series and time).
  fields, each only when defined:
    value (float, a share in [0, 1]; absent when the denominator is 0: not applicable),
    numerator, denominator (float: counts, or supplied figures),
    score (float: points earned; only when the criterion's points and scoring rule are known),
    max (float: the criterion's points, or the group's / index's maximum),
    scored_max (float, group and total rows: the points of the criteria that were scored),
    status (string: scored | not scored | not applicable | missing), origin (string: events | supplied |
    indicator | missing)
  A roll-up's points are computed from the units' summed counts, never from their scores.

``pipeline_health`` (sức khoẻ pipeline) — tags ``app_id``, ``worker``, ``topic``; time = wall clock (every 10 s)
  Each worker of a group reports its own partitions: sum over ``worker``. Counters are cumulative
  per worker process (they restart from 0 with it; queries take ``increase()``).
  fields per input topic:
    events_total, events_per_second, consumer_lag, dead_letters, late_events, duplicates (numbers)
    offset_gaps            records that reached the worker out of order and were read again
    conflicting_event_ids  events reusing an event_id with different content (dead-lettered)
    repartitioned          records that arrived in a partition other than their unit's and were
                           forwarded to it
    unkeyed                records without a Kafka key
    processing_errors      records whose processing raised (dead-lettered)
  on a row of its own with ``topic`` = ``influxdb`` (the sink's count is the worker's, not a topic's):
    points_rejected        lines InfluxDB refused as invalid (HTTP 400/413/422), cumulative per
                           worker; each was isolated from its batch and dropped, the others written
  from the HTTP ingest service (``app_id`` = ``ingest``, ``topic`` = ``ingest``, ``worker`` = its instance):
    requests, events_accepted, events_rejected (cumulative)
    rejected_<reason>      per reason: invalid_event, forbidden_source_system, forbidden_province,
                           kafka_unavailable (events); unauthorized, rate_limited, too_large,
                           bad_json, too_deep, empty (requests)
    requests_per_second, latency_p50_ms, latency_p99_ms, latency_max_ms (floats, per 10 s interval
                           with requests)

``unit_activity`` (hoạt động nguồn) — tags UNIT_TAGS + ``source_system``; time = wall clock
  fields: last_event_at (RFC 3339 string), last_event_age_seconds (float, against the watermark)
"""

from __future__ import annotations

UNIT_RATES = "unit_rates"
OPEN_DOSSIERS = "open_dossiers"
DOSSIER_ALERTS = "dossier_alerts"
FEEDBACK_ALERTS = "feedback_alerts"
PIPELINE_HEALTH = "pipeline_health"
UNIT_ACTIVITY = "unit_activity"
REPORT_COUNTS = "report_counts"
FEEDBACK_FLOWS = "feedback_flows"
SERVICE_INDEX = "service_index"

UNIT_TAGS = ("province_code", "unit_code", "unit_level", "unit_name", "ward_code", "district_code")

# Window names (tag ``window``): rolling windows, then calendar periods.
ROLLING_24H, ROLLING_7D, ROLLING_30D = "24h", "7d", "30d"
MONTH, YEAR, REPORT_YEAR = "month", "year", "report_year"
# the legal report periods of Decree 09/2019 (kỳ báo cáo): from the report year's start day
REPORT_MONTH, REPORT_QUARTER, REPORT_HALF = "report_month", "report_quarter", "report_half"
ROLLING_WINDOWS = (ROLLING_24H, ROLLING_7D, ROLLING_30D)
CALENDAR_WINDOWS = (MONTH, YEAR, REPORT_YEAR, REPORT_MONTH, REPORT_QUARTER, REPORT_HALF)
WINDOWS = ROLLING_WINDOWS + CALENDAR_WINDOWS

# report_counts: the flows of the periodic report, per unit, field, procedure and local day (all ints)
REPORT_FIELDS = (
    "received_online",
    "received_in_person",
    "received_postal",
    "received_unknown_channel",
    "resolved_early",
    "resolved_on_time",
    "resolved_late",
    "withdrawn",
    "refused",
    "overdue_started",
    "overdue_ended",
)
REPORT_TAGS = ("field", "procedure_code", "channel")
UNKNOWN_TAG = "-"  # a report_counts tag the events did not give

# feedback_flows: citizen feedback (phản ánh, kiến nghị) per unit and local day (all ints)
FEEDBACK_FLOW_FIELDS = ("received", "handled", "overdue_started", "overdue_ended")

ALERT_KINDS = ("dossier_overdue", "dossier_due_soon", "apology_missing")
FEEDBACK_ALERT_KINDS = ("feedback_overdue",)

# Counts per unit and window (all ints).
COUNT_FIELDS = (
    # dossiers received, by channel (hồ sơ tiếp nhận)
    "received",
    "received_online",
    "received_online_full",
    "received_online_partial",
    "received_in_person",
    "received_postal",
    # dossiers resolved (đã giải quyết): early + on_time + late = resolved
    "resolved",
    "resolved_early",
    "resolved_on_time",
    "resolved_late",
    "results_digitised",
    "fee_applicable",
    "paid_online",
    "supplements",
    "transfers",
    "withdrawn",
    "refused",
    # apology letters (thư xin lỗi); late_with_apology = resolved late in this window with an apology
    "apologies",
    "late_with_apology",
    # satisfaction (mức độ hài lòng)
    "ratings",
    "ratings_very_satisfied",
    "ratings_satisfied",
    "ratings_unsatisfied",
    # documents (văn bản điện tử)
    "documents_issued",
    "documents_signed",
    "documents_signed_by_leader",
    "documents_secret",
    "documents_received",
    "documents_processed_online",
    # online meetings (họp trực tuyến)
    "meetings_held",
    "meetings_uninterrupted",
    "meeting_connection_drops",
    # citizen feedback (phản ánh, kiến nghị — PAKN): received, transferred (chuyển xử lý), handled
    # (đã xử lý) = early + on_time + late against its due date (hạn xử lý), classified as dossiers are;
    # the citizen's satisfaction with the handling, on the dossier rating levels
    "feedback_received",
    "feedback_transferred",
    "feedback_handled",
    "feedback_handled_early",
    "feedback_handled_on_time",
    "feedback_handled_late",
    "feedback_ratings",
    "feedback_ratings_very_satisfied",
    "feedback_ratings_satisfied",
    "feedback_ratings_unsatisfied",
)

# rate field -> (numerator fields summed, denominator field); the only rate definitions.
RATE_DEFINITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    # tỷ lệ giải quyết đúng hạn và trước hạn
    "on_time_rate": (("resolved_early", "resolved_on_time"), "resolved"),
    # tỷ lệ hồ sơ trực tuyến
    "online_share": (("received_online",), "received"),
    # tỷ lệ số hoá kết quả
    "digitised_share": (("results_digitised",), "resolved"),
    # tỷ lệ thanh toán trực tuyến (of resolved dossiers that had a fee)
    "online_payment_share": (("paid_online",), "fee_applicable"),
    # tỷ lệ văn bản ký số
    "signature_adoption": (("documents_signed",), "documents_issued"),
    # tỷ lệ văn bản đến xử lý trên môi trường mạng
    "document_online_share": (("documents_processed_online",), "documents_received"),
    # tỷ lệ cuộc họp trực tuyến đảm bảo thông suốt
    "meeting_smooth_rate": (("meetings_uninterrupted",), "meetings_held"),
    # tỷ lệ hài lòng
    "satisfaction_rate": (("ratings_very_satisfied", "ratings_satisfied"), "ratings"),
    # tỷ lệ hồ sơ trễ hạn có thư xin lỗi
    "apology_coverage": (("late_with_apology",), "resolved_late"),
    # tỷ lệ phản ánh, kiến nghị xử lý đúng hạn và trước hạn (over handled items, as on_time_rate is
    # over resolved dossiers; Decision 766's criterion 5.2 divides by all items in competence)
    "feedback_on_time_rate": (("feedback_handled_early", "feedback_handled_on_time"), "feedback_handled"),
    # tỷ lệ hài lòng với việc xử lý phản ánh, kiến nghị: (very satisfied + satisfied) / ratings
    "feedback_satisfaction_rate": (
        ("feedback_ratings_very_satisfied", "feedback_ratings_satisfied"),
        "feedback_ratings",
    ),
}
RATE_FIELDS = tuple(RATE_DEFINITIONS)

OPEN_FIELDS = ("open", "overdue", "due_soon", "overdue_without_apology")
# service_index: its tags (UNIT_TAGS' province_code, unit_code, unit_name, then these) and fields
SERVICE_INDEX_TAGS = ("province_code", "unit_code", "unit_name", "scope", "window", "group", "criterion", "name")
SERVICE_INDEX_FIELDS = ("value", "numerator", "denominator", "score", "max", "scored_max", "status", "origin")

HEALTH_FIELDS = (
    "events_total",
    "events_per_second",
    "consumer_lag",
    "dead_letters",
    "late_events",
    "duplicates",
    "offset_gaps",
    "conflicting_event_ids",
    "repartitioned",
    "unkeyed",
    "processing_errors",
    "points_rejected",
)
# the pipeline_health topic tag of the sink's own row (points_rejected)
SINK_TOPIC = "influxdb"
