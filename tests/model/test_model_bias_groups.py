"""Intersectional groups, minimum group size and the direction of disparate impact, checked
against Fairlearn and independent pandas arithmetic on COMPAS; non-UTF-8 input; the text table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgegate.errors import InputError
from edgegate.findings import Status
from edgegate.model.bias import BiasSpec, Thresholds, run_bias

COMPAS = {"label": "two_year_recid", "prediction": "score_text", "positive_values": frozenset({"Medium", "High"})}
OFF = {"max_fpr_gap": None, "max_fnr_gap": None, "min_disparate_impact": None}


@pytest.fixture(scope="module")
def compas(shared_dir: Path) -> Path:
    return shared_dir / "data" / "compas" / "compas-two-years.csv"


@pytest.fixture(scope="module")
def frame(compas: Path):  # type: ignore[no-untyped-def]
    pd = pytest.importorskip("pandas")
    df = pd.read_csv(compas)
    df["pred"] = df["score_text"].isin(["Medium", "High"]).astype(int)
    return df


def test_intersectional_groups_equal_fairlearn(compas: Path, frame) -> None:  # type: ignore[no-untyped-def]
    fl = pytest.importorskip("fairlearn.metrics")
    res = run_bias(compas, BiasSpec(group=("race", "sex"), **COMPAS),  # type: ignore[arg-type]
                   Thresholds(**OFF, max_demographic_parity_difference=1.0, max_equalized_odds_difference=1.0))
    y, pred, sens = frame["two_year_recid"], frame["pred"], frame[["race", "sex"]]
    mf = fl.MetricFrame(metrics={"fpr": fl.false_positive_rate, "fnr": fl.false_negative_rate,
                                 "sel": fl.selection_rate, "n": fl.count},
                        y_true=y, y_pred=pred, sensitive_features=sens)
    groups = res.stats["per_group"]
    assert len(groups) == len(mf.by_group) == 12
    for (race, sex), row in mf.by_group.iterrows():
        ours = groups[f"{race} & {sex}"]
        assert ours["count"] == row["n"]
        assert ours["fpr"] == pytest.approx(row["fpr"]) and ours["fnr"] == pytest.approx(row["fnr"])
        assert ours["selection_rate"] == pytest.approx(row["sel"])
    m = res.stats["metrics"]
    assert m["demographic_parity_difference"] == pytest.approx(
        fl.demographic_parity_difference(y, pred, sensitive_features=sens), abs=1e-4)
    assert m["equalized_odds_difference"] == pytest.approx(
        fl.equalized_odds_difference(y, pred, sensitive_features=sens), abs=1e-4)
    assert res.stats["tables"][0]["title"] == "fairness by race × sex"


def test_min_group_size_reports_but_does_not_judge(compas: Path, frame) -> None:  # type: ignore[no-untyped-def]
    fl = pytest.importorskip("fairlearn.metrics")
    spec = BiasSpec(group=("race", "sex"), min_group_size=30, **COMPAS)  # type: ignore[arg-type]
    res = run_bias(compas, spec, Thresholds(**OFF, max_demographic_parity_difference=1.0,
                                            max_equalized_odds_difference=1.0))
    assert res.stats["small_groups"] == ["Asian & Female", "Native American & Female", "Native American & Male"]
    assert len(res.stats["judged_groups"]) == 9 and "Asian & Male" in res.stats["judged_groups"]  # n = 30
    sizes = frame.groupby(["race", "sex"])["pred"].transform("size")
    big = frame[sizes >= 30]
    m = res.stats["metrics"]
    assert m["equalized_odds_difference"] == pytest.approx(fl.equalized_odds_difference(
        big["two_year_recid"], big["pred"], sensitive_features=big[["race", "sex"]]), abs=1e-4)
    assert m["demographic_parity_difference"] == pytest.approx(fl.demographic_parity_difference(
        big["two_year_recid"], big["pred"], sensitive_features=big[["race", "sex"]]), abs=1e-4)
    table = res.stats["tables"][0]
    judged = {r[0]: r[table["columns"].index("judged")] for r in table["rows"]}
    assert judged["Native American & Male"] == "no (n < 30)" and judged["Caucasian & Male"] == "yes"
    with pytest.raises(InputError, match="fewer than --min-group-size"):
        run_bias(compas, BiasSpec(group="race", min_group_size=100, privileged="Asian", **COMPAS))  # type: ignore[arg-type]
    with pytest.raises(InputError, match="at least two"):
        run_bias(compas, BiasSpec(group="race", min_group_size=3000, **COMPAS))  # type: ignore[arg-type]


def _sel(df, race: str, outcome: int) -> float:  # type: ignore[no-untyped-def]
    return float((df[df["race"] == race]["pred"] == outcome).mean())


def test_disparate_impact_direction_on_compas(compas: Path, frame) -> None:  # type: ignore[no-untyped-def]
    """In COMPAS a positive prediction (Medium/High risk) is harmful: the favourable outcome is Low."""
    t = Thresholds(max_fpr_gap=None, max_fnr_gap=None, min_disparate_impact=0.8)
    named = run_bias(compas, BiasSpec(group="race", privileged="Caucasian", favourable_label="Low", **COMPAS), t)  # type: ignore[arg-type]
    races = [r for r in frame["race"].unique() if r != "Caucasian"]
    expected = min(_sel(frame, r, 0) / _sel(frame, "Caucasian", 0) for r in races)
    assert named.stats["metrics"]["disparate_impact"] == pytest.approx(expected, abs=1e-4)
    assert named.stats["disparate_impact_outcome"] == "negative"
    worst = min(races, key=lambda r: _sel(frame, r, 0))
    assert named.status is Status.FAILED and named.findings[0].details["groups"] == [worst, "Caucasian"]
    # naming the harmful outcome as favourable measures the (reversed) classic ratio
    harmful = run_bias(compas, BiasSpec(group="race", privileged="Caucasian", favourable_label="High", **COMPAS), t)  # type: ignore[arg-type]
    assert harmful.stats["metrics"]["disparate_impact"] == pytest.approx(
        min(_sel(frame, r, 1) / _sel(frame, "Caucasian", 1) for r in races), abs=1e-4)
    # unnamed: both outcomes, both directions — never above either one-sided value
    both = run_bias(compas, BiasSpec(group="race", privileged="Caucasian", **COMPAS), t)  # type: ignore[arg-type]
    ratios = [v for r in races for o in (0, 1) for v in [_sel(frame, r, o) / _sel(frame, "Caucasian", o)]]
    assert both.stats["metrics"]["disparate_impact"] == pytest.approx(min(min(v, 1 / v) for v in ratios), abs=1e-4)
    with pytest.raises(InputError, match="not a value of the prediction column"):
        run_bias(compas, BiasSpec(group="race", favourable_label="low", **COMPAS), t)  # type: ignore[arg-type]


def test_harmful_positive_prediction_cannot_pass_by_a_ratio_above_one(tmp_path: Path) -> None:
    """Group b gets the (harmful) positive prediction 2.5x as often as the privileged group a."""
    f = tmp_path / "p.csv"
    rows = ["y,p,g"] + ["0,1,a"] * 2 + ["0,0,a"] * 8 + ["0,1,b"] * 5 + ["0,0,b"] * 5
    f.write_text("\n".join(rows) + "\n")
    t = Thresholds(max_fpr_gap=None, max_fnr_gap=None, min_disparate_impact=0.8)
    spec = {"label": "y", "prediction": "p", "group": "g", "privileged": "a"}
    two_sided = run_bias(f, BiasSpec(**spec), t)  # type: ignore[arg-type]
    assert two_sided.status is Status.FAILED
    assert two_sided.stats["metrics"]["disparate_impact"] == pytest.approx(0.2 / 0.5)
    favourable_negative = run_bias(f, BiasSpec(**spec, favourable_label="0"), t)  # type: ignore[arg-type]
    assert favourable_negative.status is Status.FAILED
    assert favourable_negative.stats["metrics"]["disparate_impact"] == pytest.approx(0.5 / 0.8)
    favourable_positive = run_bias(f, BiasSpec(**spec, favourable_label="1"), t)  # type: ignore[arg-type]
    assert favourable_positive.status is Status.PASSED  # b is favoured: the one-sided ratio is 2.5
    assert favourable_positive.stats["metrics"]["disparate_impact"] == pytest.approx(0.5 / 0.2)
    with pytest.raises(InputError, match="name 1 or 0"):
        run_bias(f, BiasSpec(**spec, favourable_label="Low"), t)  # type: ignore[arg-type]


def test_non_utf8_csv_is_a_clear_input_error(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "latin1.csv"
    text = "y,p,g\n" + "1,1,a\n0,0,a\n" * 3 + "1,1,Café\n0,0,Café\n"
    f.write_bytes(text.encode("latin-1"))
    with pytest.raises(InputError, match="not valid UTF-8") as info:
        run_bias(f, BiasSpec(label="y", prediction="p", group="g"))
    assert info.value.line == 8
    header = tmp_path / "header.csv"
    header.write_bytes("y,p,r\xe9gion\n1,1,a\n".encode("latin-1"))
    res = cli("model", "bias", header, "--label", "y", "--prediction", "p", "--group", "région")
    assert res.exit_code == 2 and "not valid UTF-8" in res.stderr and ":1:" in res.stderr
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr


def test_text_table_has_fixed_decimals_and_says_undefined(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "p.csv"
    rows = ["y,p,g"] + ["1,1,a", "0,0,a", "1,0,a", "0,0,a"] * 30 + ["0,0,b", "0,1,b"] * 3  # b: no positive labels
    f.write_text("\n".join(rows) + "\n")
    res = cli("model", "bias", f, "--label", "y", "--prediction", "p", "--group", "g", "--group", "g2",
              "--max-fnr-gap", "1")
    assert res.exit_code == 2 and "no column 'g2'" in res.stderr
    res = cli("model", "bias", f, "--label", "y", "--prediction", "p", "--group", "g", "-f", "json",
              "--max-fpr-gap", "1", "--min-disparate-impact", "0", "--max-fnr-gap", "1")
    assert res.exit_code == 2 and "FNR is undefined for group 'b'" in res.stderr  # a limit needs it
    from edgegate.model.bias import BiasSpec as Spec

    out = run_bias(f, Spec(label="y", prediction="p", group="g"),
                   Thresholds(max_fpr_gap=1.0, max_fnr_gap=None, min_disparate_impact=0.0))
    table = out.stats["tables"][0]
    row_b = next(r for r in table["rows"] if r[0] == "b")
    assert row_b[table["columns"].index("FNR")] == "undefined (no positives)"
    assert row_b[table["columns"].index("FPR")] == "0.5000"
    counts = [r[1] for r in table["rows"]]
    assert len({len(c) for c in counts}) == 1  # right-aligned to one width
    json.dumps(out.stats)  # the stats stay JSON-able
    # in the text report: group c is never predicted positive, so its precision is undefined
    g = tmp_path / "q.csv"
    g.write_text("\n".join(["y,p,g"] + ["1,1,a", "0,0,a"] * 600 + ["1,0,c", "0,0,c"] * 5) + "\n")
    text = cli("model", "bias", g, "--label", "y", "--prediction", "p", "--group", "g", "--max-fnr-gap", "1",
               "--max-fpr-gap", "1")
    assert text.exit_code == 1  # c never gets the positive outcome: disparate impact 0
    assert "undefined (no positive predictions)" in text.stdout
    lines = [ln for ln in text.stdout.splitlines() if ln.strip().startswith(("a ", "c ", "(all)"))]
    assert len(lines) == 3
    assert len({ln.index("0.") for ln in lines}) == 1  # the first rate column lines up
    assert "1.0000" in text.stdout and "0.5000" in text.stdout


def test_config_groups_list_and_options(tmp_path: Path, compas: Path, cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("EDGEGATE_ALLOWED_PATHS", str(compas.parent))  # the data lives outside the project
    (tmp_path / "edgegate.toml").write_text(f"""
[model.bias]
predictions = "{compas}"
label = "two_year_recid"
prediction = "score_text"
positive-values = ["Medium", "High"]
group = ["race", "sex"]
min-group-size = 30
favourable-label = "Low"
privileged = "Caucasian & Female"
max-fpr-gap = 1.0
max-fnr-gap = 1.0
""")
    res = cli("check", tmp_path, "-f", "json")
    gate = json.loads(res.stdout)["gates"][0]
    assert gate["gate"] == "model-bias" and res.exit_code == 1, res.stderr
    assert gate["stats"]["group_columns"] == ["race", "sex"] and gate["stats"]["min_group_size"] == 30
    assert gate["stats"]["disparate_impact_outcome"] == "negative"
    assert [f["rule_id"] for f in gate["findings"]] == ["EGB003"]
    (tmp_path / "edgegate.toml").write_text((tmp_path / "edgegate.toml").read_text().replace(
        "min-group-size = 30", "min-group-size = 0"))
    assert cli("check", tmp_path).exit_code == 2  # the schema refuses it
