-- Argo CD health of a GRACE Playbook: a remedy's contract is Healthy unless GRACE reports it
-- unusable (Stalled, or Ready=False); Progressing while GRACE has not seen this generation.
-- A Playbook GRACE never wrote a status for is Healthy: the API server validated it already.
local hs = {}

local function condition(status, ctype)
  if status == nil or status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == ctype then
      return c
    end
  end
  return nil
end

local status = obj.status
local generation = obj.metadata.generation
if status ~= nil and generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for GRACE to read generation " .. generation
  return hs
end

local stalled = condition(status, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = stalled.message or "GRACE cannot use this Playbook"
  return hs
end

local ready = condition(status, "Ready")
if ready ~= nil and ready.status == "False" then
  hs.status = "Degraded"
  hs.message = ready.message or "GRACE cannot use this Playbook"
  return hs
end

hs.status = "Healthy"
if ready ~= nil and ready.message ~= nil and ready.message ~= "" then
  hs.message = ready.message
else
  hs.message = "Playbook accepted"
end
return hs
