"""Fairness metrics: ProPublica's COMPAS table reproduced, Fairlearn agrees, bad data is exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgegate.errors import InputError
from edgegate.findings import Status
from edgegate.model.bias import BiasSpec, Thresholds, run_bias

COMPAS_SPEC = BiasSpec(label="two_year_recid", prediction="score_text", group="race",
                       positive_values=frozenset({"Medium", "High"}))


@pytest.fixture(scope="module")
def compas(shared_dir: Path) -> Path:
    return shared_dir / "data" / "compas" / "compas-two-years.csv"


def test_compas_reproduces_propublica(compas: Path) -> None:
    res = run_bias(compas, COMPAS_SPEC)
    groups = res.stats["per_group"]
    assert res.stats["rows"] == 7214
    assert groups["African-American"]["count"] == 3696 and groups["Caucasian"]["count"] == 2454
    published = {  # ProPublica, "How We Analyzed the COMPAS Recidivism Algorithm" (percent)
        "African-American": (44.85, 27.99),
        "Caucasian": (23.45, 47.72),
    }
    for group, (fpr, fnr) in published.items():
        assert abs(groups[group]["fpr"] * 100 - fpr) < 0.01, group
        assert abs(groups[group]["fnr"] * 100 - fnr) < 0.01, group
    overall = res.stats["overall"]
    assert abs(overall["fpr"] * 100 - 32.35) < 0.01
    assert abs(overall["fnr"] * 100 - 37.40) < 0.01
    row = next(r for r in res.stats["tables"][0]["rows"] if r[0] == "(all)")
    columns = res.stats["tables"][0]["columns"]
    assert row[columns.index("FPR")] == "0.3235" and row[columns.index("FNR")] == "0.3740"  # fixed decimals
    assert res.status is Status.FAILED  # default limits: FPR/FNR gap 0.10, four-fifths rule
    assert {f.rule_id for f in res.findings} == {"EGB001", "EGB002", "EGB003"}


def test_compas_metrics_equal_fairlearn(compas: Path) -> None:
    pd = pytest.importorskip("pandas")
    fl = pytest.importorskip("fairlearn.metrics")
    df = pd.read_csv(compas)
    y = df["two_year_recid"]
    pred = df["score_text"].isin(["Medium", "High"]).astype(int)
    race = df["race"]
    res = run_bias(compas, COMPAS_SPEC, Thresholds(max_demographic_parity_difference=1.0,
                                                   max_equalized_odds_difference=1.0))
    m = res.stats["metrics"]
    assert m["demographic_parity_difference"] == pytest.approx(
        fl.demographic_parity_difference(y, pred, sensitive_features=race), abs=1e-4)
    assert m["demographic_parity_ratio"] == pytest.approx(
        fl.demographic_parity_ratio(y, pred, sensitive_features=race), abs=1e-4)
    assert m["equalized_odds_difference"] == pytest.approx(
        fl.equalized_odds_difference(y, pred, sensitive_features=race), abs=1e-4)
    frame = fl.MetricFrame(
        metrics={"fpr": fl.false_positive_rate, "fnr": fl.false_negative_rate, "sel": fl.selection_rate},
        y_true=y, y_pred=pred, sensitive_features=race,
    )
    for group, row in frame.by_group.iterrows():
        ours = res.stats["per_group"][group]
        assert ours["fpr"] == pytest.approx(row["fpr"]) and ours["fnr"] == pytest.approx(row["fnr"])
        assert ours["selection_rate"] == pytest.approx(row["sel"])


def test_privileged_group_and_score_threshold(tmp_path: Path) -> None:
    f = tmp_path / "p.csv"
    rows = ["label,score,g"]
    # group a: perfect; group b: half its negatives predicted positive
    rows += ["1,0.9,a", "0,0.1,a"] * 10 + ["1,0.8,b", "0,0.7,b", "0,0.2,b"] * 10
    f.write_text("\n".join(rows) + "\n")
    res = run_bias(f, BiasSpec(label="label", score="score", threshold=0.5, group="g", privileged="a"))
    assert res.stats["per_group"]["b"]["fpr"] == pytest.approx(0.5)
    assert res.stats["metrics"]["fpr_gap"] == pytest.approx(0.5)
    assert res.status is Status.FAILED and "EGB001" in {x.rule_id for x in res.findings}
    ok = run_bias(f, BiasSpec(label="label", score="score", threshold=0.5, group="g", privileged="a"),
                  Thresholds(max_fpr_gap=0.6, min_disparate_impact=None))
    assert ok.status is Status.PASSED


@pytest.mark.parametrize(
    ("text", "spec", "message"),
    [
        ("label,pred,g\n1,1,a\n2,0,b\n", {}, "not binary"),
        ("label,pred,g\n1,1,a\n,0,b\n", {}, "missing label"),
        ("label,pred,g\n1,1,a\n0,0,b\n", {"group": "race"}, "no column 'race'"),
        ("label,pred,g\n1,1,a\n0,0,a\n", {}, "only one group"),
        ("label,pred,g\n1,1,a\n0,0,a\n0,1,b\n0,0,b\n", {}, "FNR is undefined for group 'b' (no positive labels"),
        ("label,pred,g\n1,1,a\n0,maybe,b\n", {}, "not binary"),
        ("label,pred,g\n", {}, "no data rows"),
        ("label,pred,g\n1,1,a\n0,0,b\n", {"privileged": "zzz"}, "privileged group 'zzz' not found"),
        ("label,pred,g\n1,1\n", {}, "row has 2 fields"),
    ],
)
def test_bad_data_is_an_input_error(tmp_path: Path, text: str, spec: dict, message: str) -> None:  # type: ignore[type-arg]
    f = tmp_path / "bad.csv"
    f.write_text(text)
    args = {"label": "label", "prediction": "pred", "group": "g", **spec}
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        run_bias(f, BiasSpec(**args))


def test_jsonl_and_parquet(tmp_path: Path) -> None:
    pytest.importorskip("pandas")
    f = tmp_path / "p.jsonl"
    f.write_text("".join(json.dumps({"y": y, "p": p, "g": g}) + "\n"
                         for y, p, g in [(1, 1, "a"), (0, 0, "a"), (1, 1, "b"), (0, 0, "b")] * 5))
    res = run_bias(f, BiasSpec(label="y", prediction="p", group="g"))
    assert res.status is Status.PASSED and res.stats["format"] == "jsonl"
    pq = tmp_path / "p.parquet"
    pq.write_bytes(b"PAR1garbage")
    with pytest.raises(InputError):
        run_bias(pq, BiasSpec(label="y", prediction="p", group="g"))


def test_cli(compas: Path, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    res = cli("model", "bias", compas, "--label", "two_year_recid", "--prediction", "score_text",
              "--positive-values", "Medium,High", "--group", "race", "-f", "json")
    assert res.exit_code == 1
    gate = json.loads(res.stdout)["gates"][0]
    assert gate["stats"]["tables"][0]["columns"][:2] == ["group", "count"]
    text = cli("model", "bias", compas, "--label", "two_year_recid", "--prediction", "score_text",
               "--positive-values", "Medium,High", "--group", "race")
    assert "African-American" in text.stdout and "0.4485" in text.stdout
    res = cli("model", "bias", compas, "--label", "two_year_recid", "--prediction", "score_text", "--group", "race")
    assert res.exit_code == 2 and "not binary" in res.stderr and "Traceback" not in res.stderr
    res = cli("model", "bias", compas, "--label", "two_year_recid", "--group", "race")
    assert res.exit_code == 2 and "exactly one of --prediction" in res.stderr


def test_delimiters(tmp_path: Path) -> None:
    rows = [("1", "1", "a"), ("0", "0", "a"), ("1", "1", "b"), ("0", "0", "b")] * 3
    for name, sep in (("p.csv", ";"), ("p.tsv", "\t"), ("q.csv", ",")):
        f = tmp_path / name
        f.write_text("y" + sep + "p" + sep + "g\n" + "".join(sep.join(r) + "\n" for r in rows))
        res = run_bias(f, BiasSpec(label="y", prediction="p", group="g"))
        assert res.status is Status.PASSED and res.stats["rows"] == 12, name
