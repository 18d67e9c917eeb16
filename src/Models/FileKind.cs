using System.Runtime.InteropServices;

namespace PapaActors.Models;

/// <summary>
/// What a path names, found without opening it: opening a FIFO blocks until a writer comes, a device never
/// ends, and a symbolic link in a run folder leads reads and writes to a file outside it. Files from outside
/// (datasets, run folders, checkpoints) are checked with <see cref="Problem"/> before they are opened.
/// </summary>
public static partial class FileKind
{
    public enum Kind { Missing, Regular, Directory, SymbolicLink, Fifo, CharacterDevice, BlockDevice, Socket }

    /// <summary>
    /// Null if <paramref name="path"/> is a regular file (with <paramref name="followLinks"/>: or a link to one;
    /// without: not a link itself), else what it is instead, e.g. "a FIFO (named pipe), not a regular file".
    /// </summary>
    public static string? Problem(string path, bool followLinks) => Of(path, followLinks) switch
    {
        Kind.Regular => null,
        Kind.Missing => "file not found",
        var kind => $"{Describe(kind)}, not a regular file",
    };

    /// <summary>Throws an <see cref="IOException"/> "path: problem" unless <see cref="Problem"/> is null.</summary>
    public static void EnsureRegular(string path, bool followLinks)
    {
        if (Problem(path, followLinks) is { } problem)
            throw new IOException($"{path}: {problem}");
    }

    /// <summary>For a writer: a missing file is fine (it is created), anything but a regular file is refused.</summary>
    public static void EnsureWritable(string path)
    {
        var kind = Of(path, followLinks: false);
        if (kind is not (Kind.Missing or Kind.Regular))
            throw new IOException($"{path}: {Describe(kind)}, not a regular file; refusing to write through it");
    }

    public static Kind Of(string path, bool followLinks)
    {
        if (OperatingSystem.IsLinux())
            return OfLinux(path, followLinks);
        var info = new FileInfo(path);
        if (!followLinks && info.LinkTarget is not null)
            return Kind.SymbolicLink;
        return Directory.Exists(path) ? Kind.Directory : File.Exists(path) ? Kind.Regular : Kind.Missing;
    }

    public static string Describe(Kind kind) => kind switch
    {
        Kind.Directory => "a directory",
        Kind.SymbolicLink => "a symbolic link",
        Kind.Fifo => "a FIFO (named pipe)",
        Kind.CharacterDevice => "a character device",
        Kind.BlockDevice => "a block device",
        Kind.Socket => "a socket",
        Kind.Missing => "missing",
        _ => "a regular file",
    };

    private const int AtCurrentDirectory = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const uint StatxType = 0x1;
    private const int StatxModeOffset = 28;

    private static Kind OfLinux(string path, bool followLinks)
    {
        // struct statx has the same layout on every Linux architecture; stx_mode is a u16 at byte 28.
        Span<byte> buffer = stackalloc byte[256];
        if (statx(AtCurrentDirectory, path, followLinks ? 0 : AtSymlinkNoFollow, StatxType, ref MemoryMarshal.GetReference(buffer)) != 0)
        {
            var error = Marshal.GetLastPInvokeError();
            return error is 2 or 20 // ENOENT, ENOTDIR
                ? Kind.Missing
                : throw new IOException($"{path}: cannot be read ({Marshal.GetPInvokeErrorMessage(error)})");
        }
        return (BitConverter.ToUInt16(buffer[StatxModeOffset..]) & 0xF000) switch
        {
            0x8000 => Kind.Regular,
            0x4000 => Kind.Directory,
            0xA000 => Kind.SymbolicLink,
            0x1000 => Kind.Fifo,
            0x2000 => Kind.CharacterDevice,
            0x6000 => Kind.BlockDevice,
            _ => Kind.Socket,
        };
    }

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statx(int directory, string path, int flags, uint mask, ref byte buffer);
}
