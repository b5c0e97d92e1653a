namespace Kldload.Bmc.Tests.Ipmi;

/// <summary>
/// One session of `ipmitool -I lanplus -C 3 -U admin -P s3cret -vvvvv chassis power status` against
/// ipmi_sim (OpenIPMI 2.0.33), captured in TestData/ipmitool-lanplus-suite3-ipmi_sim.txt. Every value
/// below is copied from that file.
/// </summary>
internal static class CapturedSuite3
{
    public const string Password = "s3cret";
    public const string User = "admin";
    public const uint ConsoleSessionId = 0xa0a2a3a4;
    public const uint BmcSessionId = 0x00000502;
    public const byte Role = 0x14;

    public static readonly byte[] GetChannelAuthCapsRequest = Hex.Bytes("06 00 ff 07 00 00 00 00 00 00 00 00 00 09 20 18 c8 81 00 38 8e 04 b5");
    public static readonly byte[] GetChannelAuthCapsResponse = Hex.Bytes("06 00 ff 07 00 00 00 00 00 00 00 00 00 10 81 1c 63 20 00 38 00 01 97 06 03 00 00 00 00 07");

    public static readonly byte[] OpenSessionRequest = Hex.Bytes(
        "06 00 ff 07 06 10 00 00 00 00 00 00 00 00 20 00 00 00 00 00 a4 a3 a2 a0 00 00 00 08 01 00 00 00"
        + "01 00 00 08 01 00 00 00 02 00 00 08 01 00 00 00");

    public static readonly byte[] OpenSessionResponse = Hex.Bytes(
        "06 00 ff 07 06 11 00 00 00 00 00 00 00 00 24 00 00 00 00 00 a4 a3 a2 a0 02 05 00 00 00 00 00 08"
        + "01 00 00 00 01 00 00 08 01 00 00 00 02 00 00 08 01 00 00 00");

    public static readonly byte[] ConsoleRandom = Hex.Bytes("eb 98 fa cf 96 ed 5a 37 87 bc ed 0a ce a1 80 cd");

    public static readonly byte[] Rakp1 = Hex.Bytes(
        "06 00 ff 07 06 12 00 00 00 00 00 00 00 00 21 00 00 00 00 00 02 05 00 00 eb 98 fa cf 96 ed 5a 37"
        + "87 bc ed 0a ce a1 80 cd 14 00 00 05 61 64 6d 69 6e");

    public static readonly byte[] Rakp2 = Hex.Bytes(
        "06 00 ff 07 06 13 00 00 00 00 00 00 00 00 3c 00 00 00 00 00 a4 a3 a2 a0 c6 f8 26 8a a2 87 1c 8c"
        + "04 44 12 32 f7 a6 51 7e a1 23 45 67 89 ab cd ef a1 23 45 67 89 ab cd ef 5b ef 35 0c 18 a1 9e 53"
        + "11 98 59 47 6f 3c c7 12 5e 30 42 d6");

    public static readonly byte[] BmcRandom = Hex.Bytes("c6 f8 26 8a a2 87 1c 8c 04 44 12 32 f7 a6 51 7e");
    public static readonly byte[] BmcGuid = Hex.Bytes("a1 23 45 67 89 ab cd ef a1 23 45 67 89 ab cd ef");
    public static readonly byte[] Rakp2Code = Hex.Bytes("5b ef 35 0c 18 a1 9e 53 11 98 59 47 6f 3c c7 12 5e 30 42 d6");
    public static readonly byte[] Rakp3Code = Hex.Bytes("52 2e e4 87 0c af d4 76 16 b0 9d d5 70 9d f0 de 65 e2 ae 45");

    public static readonly byte[] Rakp3 = Hex.Bytes(
        "06 00 ff 07 06 14 00 00 00 00 00 00 00 00 1c 00 00 00 00 00 02 05 00 00 52 2e e4 87 0c af d4 76"
        + "16 b0 9d d5 70 9d f0 de 65 e2 ae 45");

    public static readonly byte[] Sik = Hex.Bytes("33 3e 40 cc ea dd 36 13 76 7f 6f 5b d3 88 d8 a2 84 3c b9 ab");
    public static readonly byte[] K1 = Hex.Bytes("1e 5d 1b 9e 12 ae f9 12 d2 9d 7a ee c4 06 2e 99 a7 d7 75 13");
    public static readonly byte[] K2 = Hex.Bytes("12 ea 09 a7 a6 8f ea 21 be 37 9c 3b 9a 17 15 ed 28 bd 20 4a");

    public static readonly byte[] Rakp4 = Hex.Bytes(
        "06 00 ff 07 06 15 00 00 00 00 00 00 00 00 14 00 00 00 00 00 a4 a3 a2 a0 d8 ab 1c 4b b0 1c 4b ec 2e e9 6d 8d");

    public static readonly byte[] Rakp4Icv = Hex.Bytes("d8 ab 1c 4b b0 1c 4b ec 2e e9 6d 8d");

    /// <summary>Set Session Privilege Level (Administrator), rqSeq 1, session sequence 3, encrypted and signed.</summary>
    public static readonly byte[] SetPrivilegeIv = Hex.Bytes("84 e6 0a 67 cd 91 0d 0e 32 bb a7 be c8 08 c0 1f");

    public static readonly byte[] SetPrivilegeRequest = Hex.Bytes(
        "06 00 ff 07 06 c0 02 05 00 00 03 00 00 00 20 00 84 e6 0a 67 cd 91 0d 0e 32 bb a7 be c8 08 c0 1f"
        + "5b 76 d8 60 10 57 06 10 ca 44 51 08 3a 82 8b 37 ff ff 02 07 ed 91 64 3c d9 51 d7 9e 7e 4c ea 5c");

    public static readonly byte[] SetPrivilegeResponse = Hex.Bytes(
        "06 00 ff 07 06 c0 a4 a3 a2 a0 01 00 00 00 20 00 a5 2b 82 21 e6 f2 5c b1 d8 09 0f ff d2 10 d0 c3"
        + "a2 7d aa 86 fa e5 cb 51 71 52 f2 4a 55 5f 84 7d ff ff 02 07 a6 40 c6 a3 52 36 6d 9d f7 5e 30 ba");

    /// <summary>The decrypted response message: rqSA 81, netFn 07, ..., cmd 3B, cc 00, privilege 04.</summary>
    public static readonly byte[] SetPrivilegeResponseMessage = Hex.Bytes("81 1c 63 20 04 3b 00 04 9d");
}
