"""What the API does, one module per use case; routes validate and call these.

    orders.py     decide_order: approve / review / decline an order on credit (hot path)
    invoices.py   score_invoices (API), open_invoice_scores (`duecast score`)
    customers.py  customer_view: grade, typical-invoice risk, limit, exposure, actions
    worklist.py   worklist_page: a page of the day's ranked worklist (API, CLI, page)
    present.py    API forms shared by them: reasons, actions, optional numbers

Every function takes the worker's `ServingState` (`serving.state`); nothing here knows
HTTP. The decisions themselves are pure functions in `serving.decisions`.
"""
