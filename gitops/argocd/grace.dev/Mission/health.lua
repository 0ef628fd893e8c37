-- Argo CD health of a GRACE Mission (one run of a Playbook):
--   Pending, Running, Verifying, RollingBack  -> Progressing
--   AwaitingApproval                          -> Suspended (a human has to decide)
--   Succeeded                                 -> Healthy, except a dry run whose shadow
--                                                verification says the playbook would not
--                                                have helped (ShadowVerified=False): Degraded
--   RolledBack, Failed, TimedOut, Denied, Expired, Aborted -> Degraded (the remedy did not
--   happen or did not help: worth a look, even when the target was safely restored)
local hs = {}

local status = obj.status
local phase = "Pending"
if status ~= nil and status.phase ~= nil then
  phase = status.phase
else
  status = {}
end

local function first_reason()
  if status.decision ~= nil and status.decision.reasons ~= nil and status.decision.reasons[1] ~= nil then
    return status.decision.reasons[1]
  end
  return nil
end

local function with_message(text)
  if status.message ~= nil and status.message ~= "" then
    return text .. ": " .. status.message
  end
  return text
end

local progress = ""
if status.progress ~= nil and status.progress ~= "" then
  progress = " (step " .. status.progress .. ")"
end

if phase == "Pending" then
  hs.status = "Progressing"
  hs.message = with_message("Waiting for a policy decision")
elseif phase == "AwaitingApproval" then
  hs.status = "Suspended"
  local request = "an ApprovalRequest"
  if status.approval ~= nil and status.approval.request ~= nil then
    request = "ApprovalRequest " .. status.approval.request
  end
  hs.message = "Waiting for a human to decide " .. request
  local reason = first_reason()
  if reason ~= nil then
    hs.message = hs.message .. " (" .. reason .. ")"
  end
elseif phase == "Running" then
  hs.status = "Progressing"
  hs.message = "Running" .. progress
elseif phase == "Verifying" then
  hs.status = "Progressing"
  hs.message = "Verifying the effect against the metrics"
elseif phase == "RollingBack" then
  hs.status = "Progressing"
  hs.message = with_message("Rolling back to the snapshot")
elseif phase == "Succeeded" then
  local shadow = nil
  if status.conditions ~= nil then
    for _, c in ipairs(status.conditions) do
      if c.type == "ShadowVerified" then
        shadow = c
      end
    end
  end
  if shadow ~= nil and shadow.status == "False" then
    hs.status = "Degraded"
    hs.message = "Dry run: " .. (shadow.message or "the playbook would not have helped")
  elseif shadow ~= nil then
    hs.status = "Healthy"
    hs.message = "Dry run: " .. (shadow.message or "the playbook would have helped")
  else
    hs.status = "Healthy"
    hs.message = with_message("Succeeded and verified")
  end
elseif phase == "Denied" then
  hs.status = "Degraded"
  local reason = first_reason()
  if reason ~= nil then
    hs.message = "Denied: " .. reason
  else
    hs.message = with_message("Denied")
  end
elseif phase == "RolledBack" then
  hs.status = "Degraded"
  local outcome = ""
  if status.verification ~= nil and status.verification.outcome ~= nil then
    outcome = " after verification " .. status.verification.outcome
  end
  hs.message = with_message("Rolled back" .. outcome)
elseif phase == "Failed" or phase == "TimedOut" or phase == "Expired" or phase == "Aborted" then
  hs.status = "Degraded"
  hs.message = with_message(phase)
else
  hs.status = "Unknown"
  hs.message = "Unexpected phase " .. tostring(phase)
end
return hs
