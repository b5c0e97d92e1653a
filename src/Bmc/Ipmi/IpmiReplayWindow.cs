namespace Kldload.Bmc.Ipmi;

/// <summary>
/// The inbound half of an RMCP+ session's sequence numbers (IPMI 2.0 section 6.12.13: authenticated
/// packets carry a session sequence number that increases per packet and is never 0; a receiver keeps
/// a sliding window so that packets reordered in flight are still taken and a packet seen before is
/// not). An answer that verifies but repeats a number (a captured answer sent again) or is older than
/// the window is dropped, so a replay cannot stand in for the answer to a new request even when its
/// request sequence happens to match again (it wraps every 64 requests).
/// </summary>
public sealed class IpmiReplayWindow
{
    /// <summary>How far below the highest number seen a late packet is still taken.</summary>
    public const int Size = 32;

    private uint _highest;
    private uint _seen;

    /// <summary>Records <paramref name="sequence"/> and returns true when it is new and inside the window.</summary>
    public bool TryAccept(uint sequence)
    {
        if (sequence == 0)
        {
            return false;
        }

        if (sequence > _highest)
        {
            var shift = sequence - _highest;
            _seen = shift >= Size ? 0 : _seen << (int)shift;
            _seen |= 1;
            _highest = sequence;
            return true;
        }

        var behind = _highest - sequence;
        if (behind >= Size)
        {
            return false;
        }

        var bit = 1u << (int)behind;
        if ((_seen & bit) != 0)
        {
            return false;
        }

        _seen |= bit;
        return true;
    }

    /// <summary>Forgets everything: a new session starts numbering again.</summary>
    public void Reset() => (_highest, _seen) = (0, 0);
}
