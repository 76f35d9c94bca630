"""Applications on the shared space: question answering with evidence, and recommendation.

Everything here is a pure function of an open :class:`xmodal.ingest.library.Library` (``lib``), so the
CLI (:mod:`xmodal.apps.commands`) and the REST server call the same code. Server mapping (suggested)::

    POST /ask        {question, image?, k?, kinds?, where?, llm?: bool}
                     -> qa.ask(lib, question, image=..., k=..., kinds=..., where=..., llm="auto"|None).to_dict()
    POST /interactions {user, item, event="like", weight?, ts?}
                     -> recommend.record_interaction(lib, user, item, event, weight=, ts=)   (write scope)
    GET  /users/{user}/recommendations?k=&kind=&diversity=&include_seen=
                     -> [r.to_dict() for r in recommend.recommend(lib, user, k, kinds=, where=, diversity=,
                                                                exclude_seen=)]
    GET  /items/similar?path=&k=&across_kinds=&kind=&diversity=
                     -> [r.to_dict() for r in recommend.more_like_this(lib, path, k, across_kinds=, kinds=, ...)]
    GET  /users/{user}/history      -> recommend.interactions(lib).history(user)      (Interaction dataclasses)
    DELETE /users/{user}            -> recommend.interactions(lib).forget(user)

Errors are the typed ones of :mod:`xmodal.errors` (InvalidInput -> 400, NotFound -> 404, LLMError only
surfaces as ``Answer.llm_error``: a failing chat endpoint never fails a question).
Evaluation: :mod:`xmodal.apps.evaluate` (``evaluate_qa``, ``evaluate_recommender``) and
:mod:`xmodal.apps.simulate` (the simulated interaction log).
"""
