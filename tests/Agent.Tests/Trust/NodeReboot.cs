
namespace Kldload.Agent.Tests.Trust;

/// <summary>A node reboot as the TPM sees it: the kernel's TPM2_Shutdown(STATE), then power off and on.</summary>
internal static class NodeReboot
{
    /// <summary>
    /// TPM2_Shutdown(TPM_SU_STATE) (Part 3, 9.4) sent raw, then swtpm restarted on its saved state.
    /// Without the orderly shutdown the TPM counts each restart as a dictionary-attack failure and locks
    /// out after a few (TPM_RC_LOCKOUT), as a real TPM does after power cuts.
    /// </summary>
    public static void Reboot(SwtpmProcess swtpm)
    {
        using (var tpm = swtpm.Connect())
        {
            var response = tpm.Transport.Transact([0x80, 0x01, 0x00, 0x00, 0x00, 0x0C, 0x00, 0x00, 0x01, 0x45, 0x00, 0x01]);
            Assert.Equal([0x80, 0x01, 0x00, 0x00, 0x00, 0x0A, 0x00, 0x00, 0x00, 0x00], response);
        }

        swtpm.Restart();
    }
}
