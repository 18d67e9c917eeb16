using System.Runtime.InteropServices;

namespace PapaActors.Tests.Support;

/// <summary>A fresh folder under the system temp directory, deleted with its contents on dispose.</summary>
public sealed class TempFolder : IDisposable
{
    public TempFolder() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "papa-tests-" + Guid.NewGuid().ToString("N")[..12]);

    public string File(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>A FIFO at <paramref name="path"/> (.NET has no call for it: libc's).</summary>
    public static void MakeFifo(string path) =>
        Assert.True(mkfifo(path, Convert.ToUInt32("600", 8)) == 0, $"mkfifo {path} failed: errno {Marshal.GetLastPInvokeError()}");

    [DllImport("libc", SetLastError = true)]
    private static extern int mkfifo(string path, uint mode);

    public void Dispose()
    {
        if (Directory.Exists(Path))
            Directory.Delete(Path, recursive: true);
    }
}
