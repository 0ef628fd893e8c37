-- Argo CD health of a GRACE ApprovalRequest (a question to a human):
--   Pending           -> Suspended (waiting for `kubectl grace approve|deny`)
--   Approved, Denied  -> Healthy (the question was answered; the Mission shows what followed)
--   Expired           -> Degraded (nobody answered in time)
local hs = {}

local status = obj.status
local state = "Pending"
if status ~= nil and status.state ~= nil then
  state = status.state
else
  status = {}
end

local function by()
  if status.decidedBy ~= nil and status.decidedBy ~= "" then
    return " by " .. status.decidedBy
  end
  return ""
end

if state == "Pending" then
  hs.status = "Suspended"
  local mission = ""
  if obj.spec ~= nil and obj.spec.mission ~= nil then
    mission = " on Mission " .. obj.spec.mission
  end
  hs.message = "Waiting for a decision" .. mission
  if obj.spec ~= nil and obj.spec.expiresAt ~= nil then
    hs.message = hs.message .. " until " .. obj.spec.expiresAt
  end
elseif state == "Approved" then
  hs.status = "Healthy"
  hs.message = "Approved" .. by()
elseif state == "Denied" then
  hs.status = "Healthy"
  hs.message = "Denied" .. by()
elseif state == "Expired" then
  hs.status = "Degraded"
  hs.message = "Expired without a decision"
else
  hs.status = "Unknown"
  hs.message = "Unexpected state " .. tostring(state)
end
return hs
