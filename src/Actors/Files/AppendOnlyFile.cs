using System.Text;
using PapaActors.Models;

namespace PapaActors.Actors.Files;

/// <summary>
/// A text file written a whole line at a time and flushed, that can be cut back to an earlier length (a
/// rollback or resume replays the rounds since a checkpoint, whose lines must be written once). A line that
/// cannot be written completely (disk full) is cut off again, so the file never ends mid-line. A symbolic link
/// or another non-regular file at its path is refused: the run folder's files are written there, nowhere else.
/// </summary>
public sealed class AppendOnlyFile : IDisposable
{
    private readonly FileStream _stream;

    private AppendOnlyFile(string path, long length)
    {
        Path = path;
        FileKind.EnsureWritable(path);
        _stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read);
        TruncateTo(length);
    }

    public string Path { get; }
    public long Length => _stream.Length;

    /// <summary>Opens <paramref name="path"/> (created if missing) and cuts it to <paramref name="length"/> bytes (0: empty).</summary>
    public static AppendOnlyFile Open(string path, long length) => new(path, length);

    /// <summary>Opens <paramref name="path"/> to append after what it holds.</summary>
    public static AppendOnlyFile Append(string path) => new(path, File.Exists(path) ? new FileInfo(path).Length : 0);

    public void AppendLine(string line)
    {
        var bytes = Encoding.UTF8.GetBytes(line + "\n");
        var before = _stream.Length;
        try
        {
            _stream.Position = before;
            _stream.Write(bytes);
            _stream.Flush();
        }
        catch (IOException)
        {
            try
            {
                _stream.SetLength(before);
            }
            catch (IOException)
            {
                // Nothing more can be done on a failing disk; the caller reports the first error.
            }
            throw;
        }
    }

    public void TruncateTo(long length)
    {
        if (length > _stream.Length)
            throw new IOException($"{Path} has {_stream.Length} bytes, fewer than the {length} a checkpoint recorded: the file was cut or replaced");
        _stream.SetLength(length);
        _stream.Flush(flushToDisk: true);
    }

    /// <summary>The length of the first line of a file, newline included (0 if it has none).</summary>
    public static long FirstLineBytes(string path)
    {
        using var stream = File.OpenRead(path);
        var position = 0L;
        int b;
        while ((b = stream.ReadByte()) >= 0)
        {
            position++;
            if (b == '\n')
                return position;
        }
        return 0;
    }

    public void Dispose() => _stream.Dispose();
}
