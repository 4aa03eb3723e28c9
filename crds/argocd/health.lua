-- Weft health check for SMI objects (generated from crds/argocd/render.ts; see docs/status-contract.md).
local hs = {}
local function condition(t)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == t then
      return c
    end
  end
  return nil
end
if obj.status == nil or obj.status.observedGeneration == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Weft operator"
  return hs
end
if obj.metadata.generation ~= nil and obj.status.observedGeneration < obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the Weft operator to observe generation " .. obj.metadata.generation
  return hs
end
local accepted = condition("Accepted")
if accepted ~= nil and accepted.status == "False" then
  hs.status = "Degraded"
  hs.message = accepted.reason .. ": " .. accepted.message
  return hs
end
local ready = condition("Ready")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  local refs = condition("ResolvedRefs")
  if refs ~= nil and refs.status == "False" then
    hs.message = "Programmed; " .. refs.reason .. ": " .. refs.message
  else
    hs.message = ready.message
  end
  return hs
end
hs.status = "Progressing"
if ready == nil then
  hs.message = "Waiting for the Weft operator"
else
  hs.message = ready.reason .. ": " .. ready.message
end
return hs
