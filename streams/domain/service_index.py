"""The index of Decision 766/QĐ-TTg (Bộ chỉ số chỉ đạo, điều hành và đánh giá chất lượng phục vụ người
dân, doanh nghiệp theo thời gian thực trên môi trường điện tử), computed from counts (no I/O).

What is sourced and what is not is written in ``docs/decision-766.md`` (sources S1–S12 and F); this
module only encodes it:

* five groups with their maxima 18 / 20 / 22 / 22 / 18 (S6);
* the criteria of file F, each with its formula; the ones govpulse's counts allow are computed here,
  the others are *supplied* (a figure per unit and month: numerator and denominator) or missing;
* points per criterion: only three were found (1.2 = 4, 2.1 = 20, 5.4 = 6, all from S8); every other
  criterion's points must come from the user's weights file, and a criterion without points shows its
  value and "not scored", never a made-up score;
* the scoring rule "reaching the threshold gives the maximum, below it rate × max ÷ threshold", with
  F's thresholds where F gives one (3.1, 3.5, 4.2, 4.3: 80 %; 3.3: 50 %; 5.4: 90 %). Where F gives no
  rule the weights file must say ``full_at`` (1.0 = proportional): no rule is assumed;
* a zero denominator: F says "show 0 or N/A as the reporting rules say"; those rules were not seen, so
  the criterion is *not applicable* (value None, no score) and its points leave the scored maximum;
* roll-ups (district, province, a period of several months) add the counts first and score the sums
  (:meth:`IndexCounts.__add__`, :func:`compute_index`): never an average of scores.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from enum import Enum

# ---------------------------------------------------------------------------------------------
# the decision's structure
# ---------------------------------------------------------------------------------------------
GROUP_MAXIMA: dict[int, float] = {1: 18.0, 2: 20.0, 3: 22.0, 4: 22.0, 5: 18.0}  # S6
GROUP_NAMES: dict[int, str] = {
    1: "Công khai, minh bạch",
    2: "Tiến độ, kết quả giải quyết",
    3: "Cung cấp dịch vụ trực tuyến",
    4: "Số hoá hồ sơ",
    5: "Mức độ hài lòng",
}
TOTAL_MAXIMUM = sum(GROUP_MAXIMA.values())  # 100 (S6, S8)


class Origin(str, Enum):
    """Where a criterion's figure comes from."""

    EVENTS = "events"  # computed from govpulse's counts
    SUPPLIED = "supplied"  # only from the figures file (the events cannot compute it)


@dataclass(frozen=True, slots=True)
class Criterion:
    """A criterion (chỉ số thành phần) of the decision's annex, as docs/decision-766.md gives it."""

    id: str
    group: int
    name: str  # Vietnamese, as the sources name it
    english: str
    origin: Origin
    points: float | None = None  # sourced points; None = not found in the sources read
    points_source: str = ""
    full_at: float | None = None  # F's threshold for the maximum; None = F gives no rule
    note: str = ""  # how govpulse's figure differs from the decision's, when it does


CRITERIA: tuple[Criterion, ...] = (
    Criterion("1.1", 1, "Tỷ lệ TTHC công bố đúng hạn", "procedures published on time", Origin.SUPPLIED),
    Criterion(
        "1.2",
        1,
        "Tỷ lệ TTHC được cập nhật, công khai đúng hạn",
        "procedures made public on time",
        Origin.SUPPLIED,
        points=4.0,
        points_source="S8",
    ),
    Criterion("1.3", 1, "Tỷ lệ TTHC công khai đầy đủ bộ phận tạo thành", "procedures with all parts", Origin.SUPPLIED),
    Criterion("1.4", 1, "Tỷ lệ hồ sơ đồng bộ lên Cổng DVCQG", "dossiers synchronised", Origin.SUPPLIED),
    Criterion(
        "2.1",
        2,
        "Tỷ lệ hồ sơ xử lý trước hạn, đúng hạn",
        "dossiers handled early or on time, open ones within due included",
        Origin.EVENTS,
        points=20.0,
        points_source="S8",
        note="withdrawn and refused dossiers are left out (govpulse has no on-time flag for them); "
        "a supplement restarts the due date instead of subtracting the citizen's time",
    ),
    Criterion("2.2", 2, "Thời gian giải quyết TTHC trung bình", "average handling time", Origin.SUPPLIED),
    Criterion("3.1", 3, "Tỷ lệ TTHC cung cấp DVCTT", "procedures offered online", Origin.SUPPLIED, full_at=0.8),
    Criterion("3.2", 3, "Tỷ lệ DVCTT có phát sinh hồ sơ", "online services with dossiers", Origin.SUPPLIED),
    Criterion(
        "3.3",
        3,
        "Tỷ lệ hồ sơ TTHC nộp trực tuyến",
        "dossiers received online",
        Origin.EVENTS,
        full_at=0.5,
        note="times 1.4 (synchronised share) only when 1.4 is supplied; the 'electronic result' "
        "condition for paper-result procedures is not in the events",
    ),
    Criterion(
        "3.5",
        3,
        "Tỷ lệ TTHC có nghĩa vụ tài chính tích hợp thanh toán trực tuyến",
        "fee procedures payable online",
        Origin.SUPPLIED,
        full_at=0.8,
    ),
    Criterion(
        "3.6",
        3,
        "Tỷ lệ hồ sơ thanh toán trực tuyến",
        "fee-bearing dossiers paid online",
        Origin.EVENTS,
        note="counted when the dossier is resolved (the decision: when its processing starts)",
    ),
    Criterion(
        "4.1",
        4,
        "Tỷ lệ hồ sơ có cấp kết quả giải quyết điện tử",
        "dossiers given an electronic result",
        Origin.EVENTS,
        note="a digitised result (kết quả số hoá) of every resolved dossier, not only paper-result procedures",
    ),
    Criterion("4.2", 4, "Tỷ lệ hồ sơ thực hiện số hoá hồ sơ", "dossiers digitised", Origin.SUPPLIED, full_at=0.8),
    Criterion(
        "4.3", 4, "Tỷ lệ hồ sơ tái sử dụng dữ liệu số hoá", "dossiers reusing data", Origin.SUPPLIED, full_at=0.8
    ),
    Criterion(
        "4.4", 4, "Tỷ lệ hồ sơ số hoá kết nối, chia sẻ dữ liệu", "dossiers linked to the data store", Origin.SUPPLIED
    ),
    Criterion("4.5", 4, "Ứng dụng dữ liệu dân cư", "population data used", Origin.SUPPLIED),
    Criterion("5.1", 5, "Tỷ lệ PAKN theo phân loại", "feedback by category", Origin.SUPPLIED),
    Criterion(
        "5.2",
        5,
        "Tỷ lệ PAKN xử lý đúng hạn",
        "feedback handled early or on time, open ones within due included",
        Origin.EVENTS,
    ),
    Criterion(
        "5.3",
        5,
        "Tỷ lệ hài lòng trong xử lý PAKN",
        "satisfaction with feedback handling",
        Origin.EVENTS,
        note="an item both late and rated unsatisfied is subtracted twice (the decision: once); "
        "'raised again about its result' is not an event yet",
    ),
    Criterion(
        "5.4",
        5,
        "Tỷ lệ hài lòng trong tiếp nhận, giải quyết TTHC",
        "satisfaction with handling: 1 − (late share + unsatisfied share)",
        Origin.EVENTS,
        points=6.0,
        points_source="S8",
        full_at=0.9,
        note="partial: feedback (PAKN) about dossiers is not counted, so the value is an upper bound",
    ),
)
CRITERIA_BY_ID: dict[str, Criterion] = {c.id: c for c in CRITERIA}
assert set(GROUP_MAXIMA) == {c.group for c in CRITERIA}
# sourced points never exceed their group
assert all(sum(c.points or 0.0 for c in CRITERIA if c.group == g) <= m for g, m in GROUP_MAXIMA.items()), (
    "sourced points exceed a group maximum"
)


@dataclass(frozen=True, slots=True)
class Indicator:
    """A figure shown beside the criteria that is not a criterion of the decision: never scored."""

    id: str
    group: int
    name: str
    english: str


INDICATORS: tuple[Indicator, ...] = (
    Indicator("on_time_rate", 2, "Tỷ lệ giải quyết đúng hạn (trên hồ sơ đã giải quyết)", "on time / resolved"),
    Indicator("in_process_overdue", 2, "Hồ sơ đang giải quyết quá hạn (cuối kỳ)", "open overdue at the end"),
    Indicator("apology_coverage", 2, "Tỷ lệ hồ sơ trễ hạn có thư xin lỗi", "late with apology / late"),
    Indicator("online_full_share", 3, "Tỷ lệ hồ sơ trực tuyến toàn trình", "fully online / received"),
    Indicator("satisfaction_rate", 5, "Tỷ lệ hài lòng (lượt đánh giá)", "(very) satisfied / ratings"),
)
INDICATORS_BY_ID: dict[str, Indicator] = {i.id: i for i in INDICATORS}


# ---------------------------------------------------------------------------------------------
# inputs: counts, supplied figures, weights
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class IndexCounts:
    """A unit's counts over a period (sums of counts for a roll-up), as govpulse already stores them.

    From ``report_counts`` (the periodic report's flows and stocks): carried_over … in_process_overdue.
    From ``feedback_flows`` (citizen feedback's stocks at the period's end): feedback_open and
    feedback_open_overdue.
    From the ``unit_rates`` point of the period's window: the rest (counted when the event happens in
    the period: a resolution, a handling, a rating)."""

    carried_over: int = 0  # kỳ trước chuyển qua
    received: int = 0  # mới tiếp nhận
    received_online: int = 0  # trực tuyến (toàn trình + một phần)
    resolved_early: int = 0
    resolved_on_time: int = 0
    resolved_late: int = 0
    withdrawn: int = 0
    refused: int = 0
    in_process: int = 0  # đang giải quyết at the period end
    in_process_overdue: int = 0  # of which overdue (quá hạn)
    # unit_rates, the period's window
    received_online_full: int = 0
    window_resolved: int = 0  # resolved in the window (the denominator of 4.1)
    results_digitised: int = 0
    fee_applicable: int = 0
    paid_online: int = 0
    late_with_apology: int = 0
    ratings: int = 0
    ratings_very_satisfied: int = 0
    ratings_satisfied: int = 0
    ratings_unsatisfied: int = 0
    # citizen feedback (phản ánh, kiến nghị), the period's window: counted when handled / rated
    feedback_handled: int = 0
    feedback_handled_early: int = 0
    feedback_handled_on_time: int = 0
    feedback_handled_late: int = 0
    feedback_ratings_unsatisfied: int = 0
    # citizen feedback still open at the period's end (phản ánh, kiến nghị đang xử lý cuối kỳ: received
    # before the end, not handled by then), and of those past their due date (quá hạn)
    feedback_open: int = 0
    feedback_open_overdue: int = 0

    def __add__(self, other: IndexCounts) -> IndexCounts:
        return IndexCounts(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    @classmethod
    def total(cls, parts: Iterable[IndexCounts]) -> IndexCounts:
        out = cls()
        for p in parts:
            out = out + p
        return out

    @classmethod
    def of(cls, values: Mapping[str, object]) -> IndexCounts:
        """From a mapping with (some of) these names; absent names are 0, others are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: int(v) for k, v in values.items() if k in names and v is not None})  # type: ignore[call-overload]

    @property
    def resolved(self) -> int:
        return self.resolved_early + self.resolved_on_time + self.resolved_late

    @property
    def handled(self) -> int:
        """The denominator of 2.1: resolved in the period + still in process at its end (withdrawn and
        refused left out: whether they ended within due is not counted)."""
        return self.resolved + self.in_process

    @property
    def late(self) -> int:
        """Resolved late in the period + overdue in process at its end (quá hạn)."""
        return self.resolved_late + self.in_process_overdue

    @property
    def feedback_in_competence(self) -> int:
        """The denominator of 5.2 and 5.3, every feedback item in the unit's competence in the period
        (tổng số phản ánh, kiến nghị thuộc thẩm quyền): handled in the period + open at its end."""
        return self.feedback_handled + self.feedback_open

    @property
    def feedback_in_time(self) -> int:
        """Handled early or on time in the period + open at its end and still within due (trong hạn)."""
        return (
            self.feedback_handled_early
            + self.feedback_handled_on_time
            + self.feedback_open
            - self.feedback_open_overdue
        )

    @property
    def feedback_late(self) -> int:
        """Handled late in the period + open at its end and past due (quá hạn)."""
        return self.feedback_handled_late + self.feedback_open_overdue


@dataclass(frozen=True, slots=True)
class Figure:
    """A numerator and denominator (a supplied figure, or the counts behind a computed one)."""

    numerator: float
    denominator: float
    source: str = ""

    def __add__(self, other: Figure) -> Figure:
        sources = sorted({s for s in (self.source, other.source) if s})
        return Figure(self.numerator + other.numerator, self.denominator + other.denominator, "; ".join(sources))


@dataclass(frozen=True, slots=True)
class Weight:
    points: float
    full_at: float | None  # None: the criterion's own (F's) threshold
    source: str


class IndexConfigError(ValueError):
    """A weights or figures file the index cannot use; the message names the criterion and the reason."""


def parse_weights(data: object, origin: str) -> dict[str, Weight]:
    """The weights file (YAML, already loaded): ``criteria: {"3.3": {points: 6, full_at: 0.5}, ...}``.

    Refuses: a criterion the decision does not have (or an indicator, which has no points), points that
    are not a number ≥ 0 or exceed the group's maximum, ``full_at`` outside (0, 1], unknown keys, and a
    group whose points (the file's, else the sourced ones) add up to more than its maximum."""
    if data is None:
        return {}
    if not isinstance(data, Mapping) or set(data) - {"criteria"}:
        raise IndexConfigError(f"{origin}: expected a mapping with the one key 'criteria'")
    criteria = data.get("criteria") or {}
    if not isinstance(criteria, Mapping):
        raise IndexConfigError(f"{origin}: 'criteria' must map criterion ids to {{points, full_at}}")
    out: dict[str, Weight] = {}
    for raw_id, entry in criteria.items():
        cid = str(raw_id)
        where = f"{origin}: criterion {cid}"
        if cid in INDICATORS_BY_ID:
            raise IndexConfigError(f"{where}: not a criterion of Decision 766 (a govpulse indicator): it has no points")
        crit = CRITERIA_BY_ID.get(cid)
        if crit is None:
            raise IndexConfigError(f"{where}: not a criterion of Decision 766 (known: {', '.join(CRITERIA_BY_ID)})")
        if isinstance(entry, (int, float)) and not isinstance(entry, bool):
            entry = {"points": entry}
        if not isinstance(entry, Mapping):
            raise IndexConfigError(f"{where}: expected points or {{points, full_at, source}}")
        unknown = set(entry) - {"points", "full_at", "source"}
        if unknown:
            raise IndexConfigError(f"{where}: unknown keys {', '.join(sorted(map(str, unknown)))}")
        points = _number(entry.get("points"), f"{where}: points")
        group_max = GROUP_MAXIMA[crit.group]
        if not 0 <= points <= group_max:
            raise IndexConfigError(f"{where}: points {points:g} outside 0–{group_max:g} (group {crit.group}'s maximum)")
        full_at = entry.get("full_at")
        threshold = None if full_at is None else _number(full_at, f"{where}: full_at")
        if threshold is not None and not 0 < threshold <= 1:
            raise IndexConfigError(f"{where}: full_at {threshold:g} outside (0, 1] (a share: 0.8 = 80 %)")
        out[cid] = Weight(points, threshold, str(entry.get("source") or origin))
    for g, group_max in GROUP_MAXIMA.items():
        total = sum(out[c.id].points if c.id in out else (c.points or 0.0) for c in CRITERIA if c.group == g)
        if total > group_max + 1e-9:
            raise IndexConfigError(
                f"{origin}: group {g} ({GROUP_NAMES[g]}): points add up to {total:g} > its maximum {group_max:g}"
            )
    return out


def _number(v: object, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise IndexConfigError(f"{where}: {v!r} is not a number")
    return float(v)


def parse_figure(criterion: str, numerator: str, denominator: str, where: str, source: str = "") -> Figure:
    """One row of the figures file, checked: the criterion exists, numbers ≥ 0, numerator ≤ denominator
    for a share (2.2, an average time, is total time / dossiers and may exceed it)."""
    if criterion not in CRITERIA_BY_ID:
        raise IndexConfigError(f"{where}: criterion {criterion!r} is not a criterion of Decision 766")
    try:
        num, den = float(numerator), float(denominator)
    except ValueError:
        raise IndexConfigError(
            f"{where}: criterion {criterion}: numerator {numerator!r} / denominator {denominator!r} are not numbers"
        ) from None
    if not (math.isfinite(num) and math.isfinite(den)) or num < 0 or den < 0:
        raise IndexConfigError(f"{where}: criterion {criterion}: numerator and denominator must be numbers ≥ 0")
    if criterion != "2.2" and num > den:
        raise IndexConfigError(f"{where}: criterion {criterion}: numerator {num:g} > denominator {den:g}")
    return Figure(num, den, source)


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------
class Status(str, Enum):
    SCORED = "scored"
    NOT_SCORED = "not scored"  # a value, but no points (or no rule) known
    NOT_APPLICABLE = "not applicable"  # zero denominator
    MISSING = "missing"  # the events cannot compute it and no figure was supplied


@dataclass(frozen=True, slots=True)
class CriterionResult:
    id: str
    group: int
    name: str
    origin: str  # events | supplied | indicator | missing
    status: Status
    numerator: float | None = None
    denominator: float | None = None
    value: float | None = None  # a share in [0, 1] (2.2: an average)
    score: float | None = None
    max: float | None = None  # the criterion's points, when known
    reason: str = ""  # why not scored / what differs from the decision
    points_source: str = ""


@dataclass(frozen=True, slots=True)
class GroupResult:
    group: int
    name: str
    maximum: float  # the group's maximum in the decision
    score: float  # the scored criteria's points
    scored_max: float  # the points of the criteria that were scored
    criteria: tuple[CriterionResult, ...]
    indicators: tuple[CriterionResult, ...] = ()

    @property
    def complete(self) -> bool:
        return math.isclose(self.scored_max, self.maximum)


@dataclass(frozen=True, slots=True)
class IndexResult:
    groups: tuple[GroupResult, ...]
    score: float
    scored_max: float
    maximum: float = TOTAL_MAXIMUM
    by_id: dict[str, CriterionResult] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return math.isclose(self.scored_max, self.maximum)


def _share(num: float, den: float) -> float | None:
    return num / den if den > 0 else None


def event_figures(c: IndexCounts, synchronised: float | None = None) -> dict[str, Figure]:
    """The criteria the counts compute, as numerator / denominator (the formulas, one place each).

    2.1  (early + on time + in process within due) / (resolved + in process)      [F: "đã và đang xử lý
         đúng hạn hoặc trong hạn / tổng số hồ sơ được tiếp nhận, xử lý trong kỳ"]
    3.3  received online / received, × 1.4's share when it is supplied (F)
    3.6  paid online / resolved dossiers with a fee
    4.1  digitised results / resolved (the window's)
    5.2  (feedback handled early or on time + open at the end within due) / (handled + open at the end)
                                                                                 [S4, S5: "xử lý đúng hoặc
         trước hạn / tổng số PAKN thuộc thẩm quyền"; F: open items within due count as on time]
    5.3  (5.2's total − handled late − open and overdue at the end − unsatisfied feedback ratings) / 5.2's
         total, at least 0                                                       [S4, S5: "(tổng số − số không
         hài lòng hoặc quá hạn) / tổng số"; an item both late and rated unsatisfied is subtracted twice
         (F: at most once), which counts cannot tell apart: docs/decision-766.md]
    5.4  (handled − late − unsatisfied ratings) / handled, at least 0          [F: 100 % − (late share +
         share with a complaint or a dislike); a late dossier also rated unsatisfied is subtracted twice,
         as in F]
    """
    in_time = c.resolved_early + c.resolved_on_time + (c.in_process - c.in_process_overdue)
    online = float(c.received_online) if synchronised is None else c.received_online * synchronised
    return {
        "2.1": Figure(in_time, c.handled),
        "3.3": Figure(online, c.received),
        "3.6": Figure(c.paid_online, c.fee_applicable),
        "4.1": Figure(c.results_digitised, c.window_resolved),
        "5.2": Figure(c.feedback_in_time, c.feedback_in_competence),
        "5.3": Figure(
            max(0, c.feedback_in_competence - c.feedback_late - c.feedback_ratings_unsatisfied),
            c.feedback_in_competence,
        ),
        "5.4": Figure(max(0, c.handled - c.late - c.ratings_unsatisfied), c.handled),
    }


def indicator_figures(c: IndexCounts) -> dict[str, Figure]:
    """The indicators beside the criteria (never scored); in_process_overdue is a count (denominator 1)."""
    return {
        "on_time_rate": Figure(c.resolved_early + c.resolved_on_time, c.resolved),
        "in_process_overdue": Figure(c.in_process_overdue, 1),
        "apology_coverage": Figure(c.late_with_apology, c.resolved_late),
        "online_full_share": Figure(c.received_online_full, c.received),
        "satisfaction_rate": Figure(c.ratings_very_satisfied + c.ratings_satisfied, c.ratings),
    }


def score_of(value: float, points: float, full_at: float) -> float:
    """Points earned: the maximum from ``full_at`` up, ``value × points / full_at`` below (F's rule)."""
    return points * min(1.0, max(0.0, value) / full_at)


def compute_index(
    counts: IndexCounts,
    supplied: Mapping[str, Figure] | None = None,
    weights: Mapping[str, Weight] | None = None,
) -> IndexResult:
    """Every criterion's value and, where points and a rule are known, its score; group and total scores.

    ``supplied``: figures from outside, by criterion id (for a roll-up or a longer period, the sums of the
    units' and months' figures). A supplied figure for a criterion the events compute replaces the
    computed one (the official figure wins over govpulse's approximation). ``weights``: the weights file,
    over the sourced points."""
    supplied = supplied or {}
    weights = weights or {}
    sync = supplied.get("1.4")
    computed = event_figures(counts, None if sync is None else _share(sync.numerator, sync.denominator))
    results: dict[str, CriterionResult] = {}
    for crit in CRITERIA:
        fig, origin = (supplied[crit.id], "supplied") if crit.id in supplied else (computed.get(crit.id), "events")
        w = weights.get(crit.id)
        points = w.points if w else crit.points
        points_source = w.source if w else crit.points_source
        full_at = (w.full_at if w and w.full_at is not None else None) or crit.full_at
        if fig is None:
            results[crit.id] = CriterionResult(
                crit.id,
                crit.group,
                crit.name,
                "missing",
                Status.MISSING,
                max=points,
                reason="not in govpulse's events: supply it in the figures file",
                points_source=points_source,
            )
            continue
        value = _share(fig.numerator, fig.denominator)
        note = crit.note if origin == "events" else (fig.source or "supplied")
        base = CriterionResult(
            crit.id,
            crit.group,
            crit.name,
            origin,
            Status.NOT_SCORED,
            fig.numerator,
            fig.denominator,
            value,
            max=points,
            reason=note,
            points_source=points_source,
        )
        if value is None:
            results[crit.id] = replace(base, status=Status.NOT_APPLICABLE, reason="zero denominator")
        elif crit.id == "2.2":  # an average time: no scoring rule exists for it
            results[crit.id] = replace(base, reason="an average time: shown, not scored")
        elif points is None:
            results[crit.id] = replace(base, reason="no points published: give them in the weights file")
        elif full_at is None:
            results[crit.id] = replace(base, reason="no scoring rule published: give full_at in the weights file")
        else:
            results[crit.id] = replace(base, status=Status.SCORED, score=score_of(value, points, full_at))
    indicators = {
        i.id: CriterionResult(
            i.id,
            i.group,
            i.name,
            "indicator",
            Status.NOT_SCORED,
            f.numerator,
            f.denominator,
            f.numerator if i.id == "in_process_overdue" else _share(f.numerator, f.denominator),
            reason="not a criterion of Decision 766",
        )
        for i, f in ((i, indicator_figures(counts)[i.id]) for i in INDICATORS)
    }
    groups = []
    for g, maximum in GROUP_MAXIMA.items():
        crits = tuple(r for r in results.values() if r.group == g)
        scored = [r for r in crits if r.status is Status.SCORED]
        groups.append(
            GroupResult(
                g,
                GROUP_NAMES[g],
                maximum,
                sum(r.score or 0.0 for r in scored),
                sum(r.max or 0.0 for r in scored),
                crits,
                tuple(r for r in indicators.values() if r.group == g),
            )
        )
    return IndexResult(
        tuple(groups),
        sum(gr.score for gr in groups),
        sum(gr.scored_max for gr in groups),
        by_id={**results, **indicators},
    )


def add_figures(parts: Iterable[Mapping[str, Figure]]) -> dict[str, Figure]:
    """Supplied figures of several units or months, summed per criterion (a roll-up's figures)."""
    out: dict[str, Figure] = {}
    for part in parts:
        for cid, fig in part.items():
            out[cid] = out[cid] + fig if cid in out else fig
    return out
