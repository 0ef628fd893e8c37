-- Argo CD health of a GRACE HealthNode: the service's health as GRACE measures it.
-- Healthy: every signal within its thresholds. Degraded: a signal breached (phase Degraded or
-- Critical), or the spec cannot be evaluated (Stalled). Progressing: not evaluated yet, or not
-- this generation yet. Unknown: no metrics (GRACE never acts on Unknown either).
local hs = {}

local function condition(status, ctype)
  if status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == ctype then
      return c
    end
  end
  return nil
end

local function detail(status, fallback)
  local ready = condition(status, "Ready")
  if ready ~= nil and ready.message ~= nil and ready.message ~= "" then
    return ready.message
  end
  return fallback
end

local status = obj.status
if status == nil or status.phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for GRACE's first evaluation"
  return hs
end

local generation = obj.metadata.generation
if generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for GRACE to evaluate generation " .. generation
  return hs
end

local stalled = condition(status, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = stalled.message or "GRACE cannot evaluate this HealthNode"
  return hs
end

local phase = status.phase
if phase == "Healthy" then
  hs.status = "Healthy"
  hs.message = detail(status, "All signals within thresholds")
elseif phase == "Degraded" or phase == "Critical" then
  hs.status = "Degraded"
  local message = phase .. ": " .. detail(status, "a signal is out of bounds")
  if status.rootCause ~= nil and status.rootCause ~= "" then
    message = message .. " (symptom of " .. status.rootCause .. ")"
  end
  if status.activeMission ~= nil and status.activeMission ~= "" then
    message = message .. "; Mission " .. status.activeMission .. " is remediating"
  end
  hs.message = message
elseif phase == "Unknown" then
  hs.status = "Unknown"
  hs.message = detail(status, "No metrics: GRACE does not act on an unknown phase")
else
  hs.status = "Unknown"
  hs.message = "Unexpected phase " .. tostring(phase)
end
return hs
