"""One run of a scenario: plan, dispatch, observe, judge, report."""
