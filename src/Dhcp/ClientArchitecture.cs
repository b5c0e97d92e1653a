namespace Kldload.Dhcp;

/// <summary>
/// Client system architecture types sent in option 93 (RFC 4578 section 2.1; IANA "Processor
/// Architecture Types" registry). The boot policy picks a loader from this value.
/// </summary>
public enum ClientArchitecture : ushort
{
    X86Bios = 0,
    NecPc98 = 1,
    Itanium = 2,
    DecAlpha = 3,
    ArcX86 = 4,
    IntelLeanClient = 5,
    EfiIa32 = 6,
    EfiX64 = 7,
    EfiXscale = 8,
    EfiBc = 9,
    EfiArm32 = 10,
    EfiArm64 = 11,
    EfiX64Http = 16,
    EfiArm64Http = 19,
}
