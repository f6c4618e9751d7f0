import json

import pytest

from labkit.errors import LabkitError
from labkit.scoreboard import (FIELDS, METRIC_ROLES, SCHEMA_VERSION, Row, append_rows, format_table, load_scoreboard,
                              plot_scoreboard)

REQUIRED = ("rung variant model corpus_version question_set metric_role headline profile seed n accuracy "
            "hallucination_rate abstention_rate "
            "fabricated_id_rate citation_precision citation_recall format_compliance stale_rate restricted_leaks "
            "prompt_tokens_mean completion_tokens_mean latency_ms_mean train_seconds update_seconds wall_seconds").split()


def test_rows_carry_every_documented_field():
    assert set(REQUIRED) <= set(FIELDS)


def test_append_replaces_rows_with_the_same_key_and_keeps_others(tmp_path):
    path = tmp_path / "out" / "scoreboard.json"
    append_rows(path, [Row("prompt", "closed-book", accuracy=0.1), Row("prompt", "few-shot", format_compliance=0.2)])
    rows = append_rows(path, [Row("prompt", "closed-book", accuracy=0.3)])
    assert [(r.variant, r.accuracy) for r in rows] == [("closed-book", 0.3), ("few-shot", None)]
    assert load_scoreboard(path) == rows
    saved = json.loads(path.read_text())
    assert saved["rows"][0]["citation_recall"] is None and not list(path.parent.glob(".*.tmp"))


def test_a_foreign_file_is_refused_not_misread(tmp_path):
    path = tmp_path / "scoreboard.json"
    path.write_text(json.dumps({"schema": 99, "rows": []}))
    with pytest.raises(LabkitError, match="not a labkit scoreboard"):
        load_scoreboard(path)
    # a file from before rows said what they are (schema 1) would read as rows that never speak
    path.write_text(json.dumps({"schema": 1, "rows": [{"rung": "rag", "variant": "bm25 top-5", "accuracy": 0.4}]}))
    with pytest.raises(LabkitError, match=f"expected {SCHEMA_VERSION}"):
        load_scoreboard(path)


def test_a_row_says_what_it_is_and_keeps_it_through_the_file(tmp_path):
    path = tmp_path / "scoreboard.json"
    row = Row("rag", "updated-index", corpus_version="v2", question_set="updates", metric_role="update",
              headline=True, accuracy=0.3)
    (back,) = append_rows(path, [row])
    assert (back.question_set, back.metric_role, back.headline) == ("updates", "update", True)
    assert load_scoreboard(path) == [row]
    assert Row("rag", "stale-index").headline is False  # a row speaks for its rung only when marked
    assert set(METRIC_ROLES) == {"answers", "format", "update"}


def test_table_and_plot(tmp_path):
    rows = [Row("prompt", "closed-book", n=10, accuracy=0.1, hallucination_rate=0.9),
            Row("rag", "top-4", n=10, accuracy=0.6, citation_recall=0.8)]
    table = format_table(rows).splitlines()
    assert len(table) == 3 and "10%" in table[1] and "60%" in table[2] and table[2].split()[-1] == "-"
    assert table[0].split() == ["rung", "variant", "corpus", "n", "accuracy", "halluc."], "no column nobody measured"
    assert len(format_table(rows, every_column=True).splitlines()[0].split()) > 15
    figure = plot_scoreboard(rows, tmp_path / "ladder.png")
    assert (tmp_path / "ladder.png").read_bytes()[:4] == b"\x89PNG"
    titles = [ax.get_title() for ax in figure.axes if ax.get_visible()]
    assert titles == ["accuracy (higher is better)", "hallucination (lower is better)", "citation recall (higher is better)"]


def test_headline_table_and_plot(tmp_path):
    from labkit.scoreboard import format_headlines, plot_headlines

    summary = {"prompt": {"accuracy": 0.05, "format_compliance": 0.3, "latency_ms": 300.0},
               "rag": {"accuracy": 0.4, "citation_recall": 0.7, "stale_rate": 0.0, "update_seconds": 2.5}}
    full, quiet = format_headlines(summary).splitlines(), format_headlines(summary, costs=False).splitlines()
    assert full[0].split()[0] == "rung" and "ms per query" in full[0] and "ms per query" not in quiet[0]
    assert full[1].startswith("prompt") and "300" in full[1] and "2.5" in full[2] and "2.5" not in quiet[2]
    plot_headlines(summary, tmp_path / "ladder.png")
    assert (tmp_path / "ladder.png").read_bytes()[:4] == b"\x89PNG"


def test_every_rate_in_the_file_carries_its_n_and_a_95_percent_interval(tmp_path):
    path = tmp_path / "scoreboard.json"
    row = Row("rag", "bm25 top-3", question_set="heldout", metric_role="answers", headline=True, n=60,
              accuracy=33 / 60, hallucination_rate=0.3, abstention_rate=0.15, fabricated_id_rate=0.0,
              citation_recall=0.7, question_ids=[f"q{i}" for i in range(60)], correct=[1] * 33 + [0] * 27)
    append_rows(path, [row])
    saved = json.loads(path.read_text())["rows"][0]
    assert set(saved["intervals"]) == {"accuracy", "hallucination_rate", "abstention_rate", "fabricated_id_rate"}
    for rate, interval in saved["intervals"].items():
        assert interval["n"] == 60 and 0 <= interval["ci_low"] <= saved[rate] <= interval["ci_high"] <= 1
    assert saved["intervals"]["accuracy"]["ci_high"] - saved["intervals"]["accuracy"]["ci_low"] > 0.2  # n = 60 is wide
    assert saved["intervals"]["fabricated_id_rate"]["ci_low"] == 0 < saved["intervals"]["fabricated_id_rate"]["ci_high"]
    (back,) = load_scoreboard(path)
    assert back.correct == row.correct and back.question_ids == row.question_ids


def test_tables_show_the_interval_and_the_plot_draws_it(tmp_path):
    from labkit.scoreboard import format_headlines, headlines, plot_headlines

    rows = [Row("prompt", "closed-book", metric_role="answers", headline=True, n=8, accuracy=0.0),
            Row("rag", "bm25 top-3", metric_role="answers", headline=True, n=8, accuracy=5 / 8)]
    table = format_table(rows, timings=False)
    assert "0% [0-32]" in table and "62% [31-86]" in table
    assert "62%" in format_table(rows, intervals=False) and "[" not in format_table(rows, intervals=False)
    text = format_headlines(headlines(rows), costs=False)
    assert "62% [31-86]" in text and "questions per rung (answers/format/update): prompt 8/-/-, rag 8/-/-" in text
    figure = plot_headlines(headlines(rows))
    bars = [c for c in figure.axes[0].collections if c.__class__.__name__ == "LineCollection"]
    assert bars, "the 95% intervals are drawn as error bars"
    segments = [seg for c in bars for seg in c.get_segments()]
    assert any(abs(seg[0][1] - 0.31) < 0.01 and abs(seg[1][1] - 0.86) < 0.01 for seg in segments)


def test_rows_of_each_training_seed_are_kept_and_headlines_read_one_seed(tmp_path):
    from labkit.scoreboard import format_spread, headlines, seed_spread

    def raft(seed, accuracy):
        return Row("both", "RAFT + bm25 top-3", metric_role="answers", headline=True, n=20, accuracy=accuracy,
                   train_seed=seed)

    rag = Row("rag", "bm25 top-3", metric_role="answers", headline=True, n=20, accuracy=0.5)
    rows = append_rows(tmp_path / "scoreboard.json", [rag, raft(0, 0.7), raft(1, 0.6), raft(2, 0.65)])
    assert len(rows) == 4, "the same variant trained on another seed is another row, not a replacement"
    assert headlines(rows)["both"]["accuracy"] == 0.7 and headlines(rows, 1)["both"]["accuracy"] == 0.6
    assert headlines(rows, 2)["rag"]["accuracy"] == 0.5, "an untrained rung speaks on every seed"
    assert seed_spread(rows) == {"both": {"accuracy": {0: 0.7, 1: 0.6, 2: 0.65}}}
    assert "60-70" in format_spread(rows) and format_spread(rows[:2]) == ""
    assert "RAFT + bm25 top-3 [seed 2]" in format_table(rows)
    again = append_rows(tmp_path / "scoreboard.json", [raft(1, 0.55)])  # a rerun of seed 1 replaces seed 1 only
    assert sorted((r.train_seed, r.accuracy) for r in again if r.rung == "both") == [(0, 0.7), (1, 0.55), (2, 0.65)]
