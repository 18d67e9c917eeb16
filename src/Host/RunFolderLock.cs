using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using PapaActors.Actors.Configuration;
using PapaActors.Models;

namespace PapaActors.Host;

/// <summary>
/// The one writer of a run folder: `papa run`, `papa resume`, an averager node and `papa sweep` (on the run it drives)
/// hold it for as long as they may write there; readers (`papa compare`, `papa replay`) do not need it. It is an OS
/// lock, an exclusive open of <see cref="FileName"/> (flock on Linux), so the kernel releases it when its process ends
/// in any way, kill -9 included: the file a dead process left behind is simply taken over. The file holds the PID of
/// its holder, which a refused writer names.
/// </summary>
internal sealed class RunFolderLock : IDisposable
{
    public const string FileName = "papa.lock";
    private readonly FileStream _file;

    private RunFolderLock(FileStream file) => _file = file;

    /// <summary>Takes the lock of <paramref name="folder"/>, which exists; another process holding it is a one-line error naming its PID.</summary>
    public static RunFolderLock Acquire(string folder)
    {
        var path = Path.Combine(folder, FileName);
        try
        {
            // Its holder's PID is written there: never through a link, nor into a FIFO that would block the open.
            FileKind.EnsureWritable(path);
        }
        catch (IOException e)
        {
            throw new ConfigException(e.Message, e);
        }
        FileStream file;
        try
        {
            file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e) when (File.Exists(path) && HolderOf(path) is { } pid)
        {
            throw new ConfigException($"the run folder {folder} is in use by another papa process (PID {pid}, holding {path}); wait for it to end or stop it", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException($"cannot lock the run folder {folder} ({path}): {e.Message}", e);
        }
        file.SetLength(0);
        file.Write(System.Text.Encoding.ASCII.GetBytes($"{Environment.ProcessId}\n"));
        file.Flush(flushToDisk: true);
        return new RunFolderLock(file);
    }

    /// <summary>
    /// The PID a held lock file records. Read through open(2): every .NET open of a file takes a flock too (a shared
    /// one for reading), which the holder's exclusive lock refuses.
    /// </summary>
    private static int? HolderOf(string path)
    {
        var descriptor = Open(path, ReadOnlyCloseOnExec);
        if (descriptor < 0)
            return null;
        using var reader = new StreamReader(new FileStream(new SafeFileHandle(descriptor, ownsHandle: true), FileAccess.Read));
        return int.TryParse(reader.ReadToEnd().Trim(), out var pid) ? pid : null;
    }

    private const int ReadOnlyCloseOnExec = 0x80000; // O_RDONLY | O_CLOEXEC on Linux

    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    private static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    public void Dispose() => _file.Dispose();
}
