using PapaActors.Models;

namespace PapaActors.Actors.Files;

/// <summary>
/// Writes a file under a temporary name and renames it into place, so a reader, a crash or a full disk never
/// leaves a half-written file where a whole one is expected. A symbolic link or another non-regular file at the
/// path is refused, and one at the temporary name is removed, never written through.
/// </summary>
public static class WholeFile
{
    /// <param name="write">Writes the content to the temporary path it is given.</param>
    public static void Write(string path, Action<string> write)
    {
        var temporary = path + ".partial";
        FileKind.EnsureWritable(path);
        File.Delete(temporary);
        try
        {
            write(temporary);
            File.Move(temporary, path, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }
}
