"""Flags of the probe app, declared as any app declares its own: nothing else wires them up."""

from clinic.facade import define_flag

NEW_TIMELINE = define_flag("probe.new_timeline", default=False, description="Show the probe's new timeline.")
SAFETY_NET = define_flag("probe.safety_net", default=True, description="Keep the probe's safety net on.")
