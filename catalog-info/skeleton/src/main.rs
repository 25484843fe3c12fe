fn main() {
    println!("${{ values.name }} is up");
}
