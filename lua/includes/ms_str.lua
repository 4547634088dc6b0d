-- ms_str(ms): an instant as a decimal string (tostring would switch to exponent notation).
local function ms_str(ms)
  return string.format('%.0f', ms)
end
