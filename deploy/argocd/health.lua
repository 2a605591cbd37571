-- Argo CD health of the lifeboat.dev kinds: RestoreRequest, VerificationRun,
-- BackupPolicy. One script for the three (argocd-cm keys
-- resource.customizations.health.lifeboat.dev_<Kind>); pkg/api/health.h has the same table
-- and the operator writes it as the kstatus conditions Reconciling and Stalled.
local hs = { status = "Progressing", message = "waiting for the operator" }

local function condition(st, type)
  if st.conditions == nil then return nil end
  for _, c in ipairs(st.conditions) do
    if c.type == type then return c end
  end
  return nil
end

local st = obj.status
if st == nil then return hs end
local gen = obj.metadata and obj.metadata.generation
if gen ~= nil and st.observedGeneration ~= nil and st.observedGeneration < gen then
  hs.message = "the operator has not acted on generation " .. tostring(gen) .. " yet"
  return hs
end
local valid = condition(st, "Valid")
if valid ~= nil and valid.status == "False" then
  hs.status = "Degraded"
  hs.message = valid.message or "the spec is invalid"
  return hs
end

if obj.kind == "BackupPolicy" then
  if obj.spec ~= nil and obj.spec.suspend == true then
    hs.status = "Suspended"
    hs.message = "the schedule is suspended (spec.suspend)"
    return hs
  end
  local ready = condition(st, "Ready")
  local drift = condition(st, "ConfigDrift")
  hs.message = "no backup run has finished yet"
  if ready ~= nil and ready.status == "False" then
    hs.status = "Degraded"
    hs.message = ready.message or ready.reason
  elseif drift ~= nil and drift.status == "True" then
    hs.status = "Degraded"
    hs.message = drift.message or drift.reason
  elseif ready ~= nil and ready.status == "True" then
    hs.status = "Healthy"
    hs.message = ready.message or ready.reason
  end
  return hs
end

local verdicts = {
  RestoreRequest = { Succeeded = "Healthy", Planned = "Healthy", Failed = "Degraded",
                     RolledBack = "Degraded", AwaitingApproval = "Suspended" },
  VerificationRun = { Passed = "Healthy", Failed = "Degraded" },
}
local phase = st.phase or "Pending"
hs.status = (verdicts[obj.kind] or {})[phase] or "Progressing"
hs.message = st.message or phase
return hs
